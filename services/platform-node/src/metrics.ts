import { collectDefaultMetrics, Registry } from "prom-client";

/**
 * One Prometheus registry per process: process metrics (CPU, memory, heap,
 * event-loop lag, open handles) plus whatever the services of this process
 * register. Every port a process serves answers `/metrics` from it, so in
 * standalone mode the admin port shows the gateway's figures too.
 */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry, prefix: "fleetplane_" });

export async function renderMetrics(): Promise<{ contentType: string; body: string }> {
  return { contentType: metricsRegistry.contentType, body: await metricsRegistry.metrics() };
}
