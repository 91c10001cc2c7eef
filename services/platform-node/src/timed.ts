import { BoundHistogram } from "./bound-histogram.js";
import { metricsRegistry } from "./metrics.js";

const storeSeconds = new BoundHistogram({
  name: "fleetplane_store_operation_duration_seconds",
  help: "Time of each store operation, by store, repository and operation (failures included)",
  labelNames: ["store", "repository", "operation"],
  buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [metricsRegistry],
});

/**
 * Wraps every method of a repository so its latency lands in
 * fleetplane_store_operation_duration_seconds. A decorator over the port, so
 * adapters stay free of metrics code.
 *
 * Timed with performance.now() into a child bound once per method of a
 * BoundHistogram: prom-client's startTimer() makes a closure and two hrtime
 * arrays per call, and its observe() merges and hashes the labels again —
 * three to five store calls per new agent in a connect storm
 * (docs/performance.md §31).
 */
export function timed<T extends object>(repository: T, store: string, name: string): T {
  const out = {} as T;
  for (const key of Object.keys(repository) as Array<keyof T>) {
    const method = repository[key];
    if (typeof method !== "function") {
      out[key] = method;
      continue;
    }
    const observe = storeSeconds.labels(store, name, String(key));
    out[key] = (async (...args: unknown[]) => {
      const started = performance.now();
      try {
        return await (method as (...a: unknown[]) => Promise<unknown>).apply(repository, args);
      } finally {
        observe.observe((performance.now() - started) / 1000);
      }
    }) as T[keyof T];
  }
  return out;
}
