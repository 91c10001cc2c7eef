import { Counter, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { addMetricsSource, metricsRegistry, renderMetrics, type ProcessMetrics } from "./metrics.js";

/** Another process's metrics as it would send them: one counter at `value`. */
async function otherProcess(value: number): Promise<ProcessMetrics> {
  const registry = new Registry();
  new Counter({ name: "fleetplane_spec_merged_total", help: "a counter in several processes", registers: [registry] }).inc(value);
  return (await registry.getMetricsAsJSON()) as ProcessMetrics;
}

describe("/metrics of a process that shows other processes' metrics", () => {
  it("sums each counter over this process and every source's processes, and drops a source when told", async () => {
    const here = new Counter({ name: "fleetplane_spec_merged_total", help: "a counter in several processes", registers: [metricsRegistry] });
    here.inc(1);
    try {
      const stop = addMetricsSource(async () => [await otherProcess(10), await otherProcess(100)]);
      const merged = (await renderMetrics()).body;
      expect(merged).toMatch(/^fleetplane_spec_merged_total 111$/m);
      // This process's own metrics are still there, once.
      expect(merged.match(/^# TYPE fleetplane_process_cpu_seconds_total counter$/gm)).toHaveLength(1);
      stop();
      expect((await renderMetrics()).body).toMatch(/^fleetplane_spec_merged_total 1$/m);
    } finally {
      metricsRegistry.removeSingleMetric("fleetplane_spec_merged_total");
    }
  });

  it("leaves out a source that fails, and still answers", async () => {
    const stop = addMetricsSource(async () => {
      throw new Error("a worker went away");
    });
    try {
      expect((await renderMetrics()).body).toMatch(/^# TYPE fleetplane_process_cpu_seconds_total counter$/m);
    } finally {
      stop();
    }
  });
});
