import { describe, expect, it } from "vitest";
import { LatencyHistogram } from "./latency.js";

describe("a latency histogram sent between processes", () => {
  it("sums to the same quantiles as one histogram of every sample", () => {
    const one = new LatencyHistogram();
    const [a, b] = [new LatencyHistogram(), new LatencyHistogram()];
    for (let i = 1; i <= 1_000; i++) {
      one.record(i / 10);
      (i % 3 === 0 ? a : b).record(i / 10);
    }
    const merged = new LatencyHistogram();
    merged.mergeData(JSON.parse(JSON.stringify(a.toData())));
    merged.mergeData(structuredClone(b.toData()));
    expect(merged.summary()).toEqual(one.summary());
  });
});
