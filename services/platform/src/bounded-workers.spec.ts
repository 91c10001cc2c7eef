import { describe, expect, it } from "vitest";
import { runBounded } from "./bounded-workers.js";

describe("runBounded", () => {
  it("visits every item once, never more than `concurrency` at a time", async () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const seen: number[] = [];
    let inFlight = 0;
    let most = 0;
    await runBounded(items, 4, async (i) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await Promise.resolve();
      await Promise.resolve();
      seen.push(i);
      inFlight--;
    });
    expect(seen.sort((a, b) => a - b)).toEqual(items);
    expect(most).toBe(4);
  });

  it("resolves at once for no items", async () => {
    await expect(runBounded([], 8, async () => undefined)).resolves.toBeUndefined();
  });
});
