/**
 * A latency histogram with logarithmic buckets (about 2% wide) from 10 µs to
 * ~30 min: constant memory and O(1) record, whatever the number of samples,
 * so 50,000 agents can record every reply.
 */
const BUCKETS_PER_DOUBLING = 32;
const MIN_MS = 0.01;
const BUCKETS = BUCKETS_PER_DOUBLING * 28;

export interface LatencyData {
  counts: number[];
  count: number;
  sum: number;
  max: number;
}

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  max = 0;
  private sum = 0;

  record(ms: number): void {
    const v = Math.max(ms, MIN_MS);
    const i = Math.min(BUCKETS - 1, Math.floor(Math.log2(v / MIN_MS) * BUCKETS_PER_DOUBLING));
    this.counts[i]!++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  /** The value at quantile q (0..1), as the upper edge of its bucket. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= target) return Math.min(this.max, MIN_MS * 2 ** ((i + 1) / BUCKETS_PER_DOUBLING));
    }
    return this.max;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
  }

  /** The histogram as plain data, to cross a process boundary (see ProcessFleet). */
  toData(): LatencyData {
    return { counts: Array.from(this.counts), count: this.count, sum: this.sum, max: this.max };
  }

  /** Adds a histogram sent as data by toData(). */
  mergeData(d: LatencyData): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += d.counts[i] ?? 0;
    this.count += d.count;
    this.sum += d.sum;
    this.max = Math.max(this.max, d.max);
  }

  summary(): { count: number; mean: number; p50: number; p90: number; p99: number; max: number } {
    const r = (x: number) => Math.round(x * 100) / 100;
    return { count: this.count, mean: r(this.mean), p50: r(this.quantile(0.5)), p90: r(this.quantile(0.9)), p99: r(this.quantile(0.99)), max: r(this.max) };
  }
}
