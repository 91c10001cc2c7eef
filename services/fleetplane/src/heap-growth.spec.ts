import { describe, expect, it } from "vitest";
import { HEAP_GROWING_PERCENT, LIMIT_ABOVE_LIVE_BYTES, heapGrowingPercentFor, heapGrowthChosen, limitHeapGrowth } from "./heap-growth.js";

describe("heap growth of a server process", () => {
  it("is the operator's when node's command line or NODE_OPTIONS sets it, in any spelling V8 takes", () => {
    expect(heapGrowthChosen(["--heap-growing-percent=50"], undefined)).toBe(true);
    expect(heapGrowthChosen(["--heap_growing_percent", "50"], undefined)).toBe(true);
    expect(heapGrowthChosen([], "--max-old-space-size=512 --heap-growing-percent=0")).toBe(true);
    expect(heapGrowthChosen([], "--optimize-for-size")).toBe(true);
    expect(heapGrowthChosen(["--no-optimize-for-size"], "")).toBe(true);
  });

  it("is ours otherwise: other memory flags and lookalikes do not count", () => {
    expect(heapGrowthChosen(["--import", "tsx", "--max-semi-space-size=2", "--max-old-space-size=512"], "--enable-source-maps")).toBe(false);
    expect(heapGrowthChosen(["--heap-growing-percentage=5"], undefined)).toBe(false);
    expect(heapGrowthChosen([], undefined)).toBe(false);
  });

  it("limits the growth only for a process whose heap after a full collection is large", () => {
    expect(heapGrowingPercentFor(LIMIT_ABOVE_LIVE_BYTES - 1)).toBe(0);
    expect(heapGrowingPercentFor(LIMIT_ABOVE_LIVE_BYTES)).toBe(HEAP_GROWING_PERCENT);
  });

  it("watches unless the operator chose", () => {
    const watching = limitHeapGrowth([], undefined);
    expect(watching).toBeDefined();
    watching!.stop();
    expect(limitHeapGrowth(["--heap-growing-percent=50"], undefined)).toBeUndefined();
    expect(limitHeapGrowth([], "--optimize-for-size")).toBeUndefined();
  });
});
