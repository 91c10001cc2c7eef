import { AggregatorRegistry, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { BoundHistogram } from "./bound-histogram.js";

const shape = { name: "fleetplane_spec_seconds", help: "a histogram in a spec", labelNames: ["store", "operation"], buckets: [0.001, 0.01, 0.1, 1] };
// On a bound, between bounds, below the first, above the last.
const observations: Array<[string, string, number]> = [
  ["embedded", "save", 0.001],
  ["embedded", "save", 0.0005],
  ["embedded", "save", 0.05],
  ["embedded", "get", 0.01],
  ["embedded", "get", 7],
  ["mongodb", "save", 0.2],
];

/** The same observations through prom-client's Histogram and through ours, each in its own registry. */
function bothWays() {
  const theirs = new Registry();
  const ours = new Registry();
  const h = new Histogram({ ...shape, registers: [theirs] });
  const b = new BoundHistogram({ ...shape, registers: [ours] });
  for (const [store, op, v] of observations) {
    h.labels(store, op).observe(v);
    b.labels(store, op).observe(v);
  }
  return { theirs, ours, b };
}

describe("a histogram whose label sets are bound once", () => {
  it("reads as prom-client's Histogram reads for the same observations: text and JSON", async () => {
    const { theirs, ours } = bothWays();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toMatch(/^fleetplane_spec_seconds_count\{store="embedded",operation="save"\} 3$/m);
    // As the workers send it (JSON over IPC: keys whose value is undefined fall away).
    const sent = async (r: Registry) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as unknown;
    expect(await sent(ours)).toEqual(await sent(theirs));
  });

  it("merges across processes as prom-client's does (gateway workers' metrics)", async () => {
    const a = bothWays();
    const b = bothWays();
    const merged = (r: Registry[]) => Promise.all(r.map((x) => x.getMetricsAsJSON())).then((j) => AggregatorRegistry.aggregate(j as never).metrics());
    expect(await merged([a.ours, b.ours])).toBe(await merged([a.theirs, b.theirs]));
  });

  it("binds one series per label set, and shows nothing after a reset until observed again", async () => {
    const { ours, b } = bothWays();
    b.labels("embedded", "save").observe(0.002);
    expect(await ours.metrics()).toMatch(/^fleetplane_spec_seconds_count\{store="embedded",operation="save"\} 4$/m);
    ours.resetMetrics();
    expect(await ours.metrics()).not.toMatch(/_count/);
    b.labels("mongodb", "get").observe(0.002);
    expect(await ours.metrics()).toMatch(/^fleetplane_spec_seconds_bucket\{le="0.01",store="mongodb",operation="get"\} 1$/m);
    expect(() => b.labels("embedded")).toThrow(/takes 2 label values/);
  });

  it("without labels, reads as prom-client's unlabelled Histogram: zeros before the first observation, nothing after a reset", async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const unlabelled = { name: "fleetplane_spec_plain_seconds", help: "an unlabelled histogram in a spec", buckets: [0.001, 0.01, 0.1] };
    const h = new Histogram({ ...unlabelled, registers: [theirs] });
    const b = new BoundHistogram({ ...unlabelled, labelNames: [], registers: [ours] }).labels();
    expect(await ours.metrics()).toMatch(/^fleetplane_spec_plain_seconds_count 0$/m);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    for (const v of [0.0005, 0.01, 0.05, 3]) {
      h.observe(v);
      b.observe(v);
    }
    expect(await ours.metrics()).toMatch(/^fleetplane_spec_plain_seconds_bucket\{le="0.01"\} 2$/m);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    theirs.resetMetrics();
    ours.resetMetrics();
    expect(await ours.metrics()).not.toMatch(/_count/);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    h.observe(0.002);
    b.observe(0.002);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });
});
