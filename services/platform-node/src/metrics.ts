import { AggregatorRegistry, collectDefaultMetrics, Registry, type MetricObjectWithValues, type MetricValue } from "prom-client";

/**
 * One Prometheus registry per process: process metrics (CPU, memory, heap,
 * event-loop lag, open handles) plus whatever the services of this process
 * register. Every port a process serves answers `/metrics` from it, so in
 * standalone mode the admin port shows the gateway's figures too.
 */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry, prefix: "fleetplane_" });

/** This process's metrics in the form other processes' are merged in (prom-client's JSON). */
export type ProcessMetrics = MetricObjectWithValues<MetricValue<string>>[];

/**
 * Other processes whose metrics this one shows as its own: the gateway
 * workers of a primary (`--workers N`), each asked over its IPC channel.
 * A source that fails or does not answer is left out of that scrape.
 */
const sources = new Set<() => Promise<ProcessMetrics[]>>();

/** Shows `source`'s processes in this process's `/metrics` until the returned function is called. */
export function addMetricsSource(source: () => Promise<ProcessMetrics[]>): () => void {
  sources.add(source);
  return () => sources.delete(source);
}

/** This process's metrics, for a primary that merges them into its own. */
export async function processMetrics(): Promise<ProcessMetrics> {
  return (await metricsRegistry.getMetricsAsJSON()) as ProcessMetrics;
}

/**
 * The text of `/metrics`: this process's registry, merged with those of the
 * processes of any source. Merged as prom-client merges a cluster's —
 * counters, gauges and histogram buckets summed per label set (so the
 * connected agents and the CPU seconds are the server's, all processes
 * together), the event-loop lag averaged, the version shown once.
 */
export async function renderMetrics(): Promise<{ contentType: string; body: string }> {
  if (sources.size === 0) return { contentType: metricsRegistry.contentType, body: await metricsRegistry.metrics() };
  const others = await Promise.all([...sources].map((s) => s().catch(() => [] as ProcessMetrics[])));
  const merged = AggregatorRegistry.aggregate([await processMetrics(), ...others.flat()]);
  return { contentType: metricsRegistry.contentType, body: await merged.metrics() };
}
