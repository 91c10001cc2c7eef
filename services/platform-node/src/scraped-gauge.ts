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
}

export interface ScrapedGauge {
  /** Adds a reading (summed with the others); returns the function that removes it. */
  addSource(read: () => Promise<number>): () => void;
}

const gauges = new Map<string, ScrapedGauge>();

/**
 * A gauge whose value is read (from a store, say) when /metrics is scraped,
 * at most once per `maxAgeMs`; concurrent scrapes share one reading. Created
 * once per process and name, so tests may start several services in one
 * process; each adds its source, and the gauge shows their sum.
 */
export function scrapedGauge(o: ScrapedGaugeOptions): ScrapedGauge {
  const existing = gauges.get(o.name);
  if (existing) return existing;
  const sources = new Set<() => Promise<number>>();
  let cached: { value: number; at: number } | undefined;
  let reading: Promise<number> | undefined;
  const read = async () => (await Promise.all([...sources].map((s) => s()))).reduce((a, b) => a + b, 0);
  new Gauge({
    name: o.name,
    help: o.help,
    registers: [metricsRegistry],
    async collect() {
      if (!cached || Date.now() - cached.at >= o.maxAgeMs) {
        reading ??= read().finally(() => (reading = undefined));
        cached = { value: await reading, at: Date.now() };
      }
      this.set(cached.value);
    },
  });
  const made: ScrapedGauge = {
    addSource(source) {
      sources.add(source);
      cached = undefined; // a new source counts from the next scrape on
      return () => {
        sources.delete(source);
        cached = undefined;
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
  let cached: { value: Map<string, number>; at: number } | undefined;
  let reading: Promise<Map<string, number>> | undefined;
  const read = async () => {
    const sum = new Map<string, number>();
    for (const readings of await Promise.all([...sources].map((s) => s()))) {
      for (const [label, value] of readings) sum.set(label, (sum.get(label) ?? 0) + value);
    }
    return sum;
  };
  new Gauge({
    name: o.name,
    help: o.help,
    labelNames: [o.labelName],
    registers: [metricsRegistry],
    async collect() {
      if (!cached || Date.now() - cached.at >= o.maxAgeMs) {
        reading ??= read().finally(() => (reading = undefined));
        cached = { value: await reading, at: Date.now() };
      }
      this.reset();
      for (const [label, value] of cached.value) this.labels(label).set(value);
    },
  });
  const made: ScrapedLabelledGauge = {
    addSource(source) {
      sources.add(source);
      cached = undefined;
      return () => {
        sources.delete(source);
        cached = undefined;
      };
    },
  };
  labelledGauges.set(o.name, made);
  return made;
}
