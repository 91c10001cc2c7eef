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
