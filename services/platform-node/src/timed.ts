import { Histogram } from "prom-client";
import { metricsRegistry } from "./metrics.js";

const storeSeconds = new Histogram({
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
      const end = observe.startTimer();
      try {
        return await (method as (...a: unknown[]) => Promise<unknown>).apply(repository, args);
      } finally {
        end();
      }
    }) as T[keyof T];
  }
  return out;
}
