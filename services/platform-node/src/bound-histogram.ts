import type { Metric, MetricValueWithName, Registry } from "prom-client";

/** A label set of a BoundHistogram, bound once; observe() is what a hot path calls. */
export interface BoundHistogramChild {
  /** Counts `value` (seconds, or whatever the histogram measures) in its bucket. */
  observe(value: number): void;
}

export interface BoundHistogramOptions {
  name: string;
  help: string;
  labelNames: readonly string[];
  /** Upper bounds, ascending; "+Inf" is added. */
  buckets: readonly number[];
  registers: Registry[];
}

/** A value as prom-client's Histogram gives it (buckets carry an exemplar slot, null without exemplars). */
type HistogramValue = MetricValueWithName<string> & { exemplar?: null };

interface Series {
  labels: Record<string, string>;
  /** Observations per bucket (not cumulative); the last is above every bound. */
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram whose label sets are bound once, up front, and read
 * as prom-client's own Histogram reads them (the same exposition and JSON,
 * so /metrics and the gateway workers' merge treat it like any histogram).
 *
 * Why not prom-client's: its children still merge the bound labels into a
 * new object and hash them on every observation (prom-client 15: observe()
 * and startTimer() alike), the allocation and hashing of a store call timed
 * three to five times per new agent in a connect storm (docs/performance.md
 * §31). Here an observation is a bucket search and three additions.
 */
export class BoundHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly labelNames: readonly string[];
  private readonly bounds: readonly number[];
  private readonly series = new Map<string, Series>();
  /** Whether a series not yet observed is shown: an unlabelled histogram's one series is, until a reset (as prom-client's). */
  private showUnobserved: boolean;

  constructor(o: BoundHistogramOptions) {
    this.name = o.name;
    this.help = o.help;
    this.labelNames = o.labelNames;
    this.bounds = [...o.buckets].sort((a, b) => a - b);
    // Without labels, its one series is shown from the start, zeros and all, as prom-client shows an unlabelled histogram.
    this.showUnobserved = this.labelNames.length === 0;
    if (this.showUnobserved) this.labels();
    for (const r of o.registers) r.registerMetric(this as unknown as Metric);
  }

  /** The child of these label values (in labelNames' order); the same one for the same values. */
  labels(...values: string[]): BoundHistogramChild {
    if (values.length !== this.labelNames.length) throw new Error(`${this.name} takes ${this.labelNames.length} label values, got ${values.length}`);
    const key = JSON.stringify(values);
    let s = this.series.get(key);
    if (!s) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      s = { labels, counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    const series = s;
    const bounds = this.bounds;
    return {
      observe(value: number) {
        let i = 0;
        while (i < bounds.length && value > bounds[i]!) i++;
        series.counts[i]!++;
        series.sum += value;
        series.count++;
      },
    };
  }

  /** What prom-client's Histogram.get() gives: cumulative buckets, then sum and count, per label set observed at least once (and an unlabelled histogram's one series until its first reset). */
  async get(): Promise<{ name: string; help: string; type: "histogram"; values: HistogramValue[]; aggregator: "sum" }> {
    const values: HistogramValue[] = [];
    for (const s of this.series.values()) {
      if (s.count === 0 && !this.showUnobserved) continue;
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ labels: { le, ...s.labels }, value: acc, metricName: `${this.name}_bucket`, exemplar: null });
      });
      values.push({ labels: { le: "+Inf", ...s.labels }, value: s.count, metricName: `${this.name}_bucket`, exemplar: null });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** Forgets every observation (the registry's resetMetrics). Bound children stay bound. */
  reset(): void {
    this.showUnobserved = false;
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
