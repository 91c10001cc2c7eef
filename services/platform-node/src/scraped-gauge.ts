import { Gauge } from "prom-client";
import { metricsRegistry } from "./metrics.js";

export interface ScrapedGaugeOptions {
  name: string;
  help: string;
  /**
   * How long a reading is served again before the sources are asked anew.
   * Sources are stores: a scrape storm (several Prometheus servers, a
   * dashboard reloading /metrics) must not turn into a query storm.
   */
  maxAgeMs: number;
  /**
   * How long a scrape waits for a reading (default 2 s). A store that has
   * slowed down must not make /metrics slow too: Prometheus would time the
   * whole scrape out and lose every other figure with it. Past this the
   * gauge shows NaN (unknown) for that scrape, and the reading, when it
   * comes, serves the next ones.
   */
  answerWithinMs?: number;
}

const DEFAULT_ANSWER_WITHIN_MS = 2_000;
const UNKNOWN = Symbol("unknown");

/**
 * One reading of a gauge's sources: shared by concurrent scrapes, served
 * again for `maxAgeMs`, waited for at most `answerWithinMs` per scrape.
 */
class SharedReading<T> {
  private cached: { value: T; at: number } | undefined;
  private reading: Promise<T> | undefined;
  constructor(
    private readonly read: () => Promise<T>,
    private readonly o: ScrapedGaugeOptions,
  ) {}

  /** Sources changed: the next scrape reads anew. */
  forget(): void {
    this.cached = undefined;
  }

  async current(): Promise<T | typeof UNKNOWN> {
    if (this.cached && Date.now() - this.cached.at < this.o.maxAgeMs) return this.cached.value;
    this.reading ??= this.read()
      .then((value) => ((this.cached = { value, at: Date.now() }), value))
      .finally(() => (this.reading = undefined));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<typeof UNKNOWN>((resolve) => (timer = setTimeout(() => resolve(UNKNOWN), this.o.answerWithinMs ?? DEFAULT_ANSWER_WITHIN_MS)));
    try {
      return await Promise.race([this.reading, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface ScrapedGauge {
  /** Adds a reading (summed with the others); returns the function that removes it. */
  addSource(read: () => Promise<number>): () => void;
}

const gauges = new Map<string, ScrapedGauge>();

/**
 * A gauge whose value is read (from a store, say) when /metrics is scraped,
 * at most once per `maxAgeMs`; concurrent scrapes share one reading, and
 * none waits for it longer than `answerWithinMs`. Created
 * once per process and name, so tests may start several services in one
 * process; each adds its source, and the gauge shows their sum.
 */
export function scrapedGauge(o: ScrapedGaugeOptions): ScrapedGauge {
  const existing = gauges.get(o.name);
  if (existing) return existing;
  const sources = new Set<() => Promise<number>>();
  const reading = new SharedReading(async () => (await Promise.all([...sources].map((s) => s()))).reduce((a, b) => a + b, 0), o);
  new Gauge({
    name: o.name,
    help: o.help,
    registers: [metricsRegistry],
    async collect() {
      const value = await reading.current();
      this.set(value === UNKNOWN ? Number.NaN : value);
    },
  });
  const made: ScrapedGauge = {
    addSource(source) {
      sources.add(source);
      reading.forget(); // a new source counts from the next scrape on
      return () => {
        sources.delete(source);
        reading.forget();
      };
    },
  };
  gauges.set(o.name, made);
  return made;
}

export interface ScrapedLabelledGauge {
  /** Adds a reading per label value (summed with the other sources' for the same value); returns the function that removes it. */
  addSource(read: () => Promise<ReadonlyMap<string, number>>): () => void;
}

const labelledGauges = new Map<string, ScrapedLabelledGauge>();

/**
 * scrapedGauge with one label: each source reads a value per label value
 * (e.g. agents per namespace), and the gauge shows, per value, the sum over
 * its sources. A label value no source reads any more disappears.
 */
export function scrapedLabelledGauge(o: ScrapedGaugeOptions & { labelName: string }): ScrapedLabelledGauge {
  const existing = labelledGauges.get(o.name);
  if (existing) return existing;
  const sources = new Set<() => Promise<ReadonlyMap<string, number>>>();
  const reading = new SharedReading(async () => {
    const sum = new Map<string, number>();
    for (const readings of await Promise.all([...sources].map((s) => s()))) {
      for (const [label, value] of readings) sum.set(label, (sum.get(label) ?? 0) + value);
    }
    return sum;
  }, o);
  /** The label values last shown: a scrape that cannot wait shows them unknown (NaN), not gone. */
  let shown: readonly string[] = [];
  new Gauge({
    name: o.name,
    help: o.help,
    labelNames: [o.labelName],
    registers: [metricsRegistry],
    async collect() {
      const value = await reading.current();
      this.reset();
      if (value === UNKNOWN) for (const label of shown) this.labels(label).set(Number.NaN);
      else {
        for (const [label, v] of value) this.labels(label).set(v);
        shown = [...value.keys()];
      }
    },
  });
  const made: ScrapedLabelledGauge = {
    addSource(source) {
      sources.add(source);
      reading.forget();
      return () => {
        sources.delete(source);
        reading.forget();
      };
    },
  };
  labelledGauges.set(o.name, made);
  return made;
}
