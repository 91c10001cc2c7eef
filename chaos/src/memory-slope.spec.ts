import { describe, expect, it } from "vitest";
import { memorySlopeMiBPerMinute } from "./memory-slope.js";

describe("memory slope", () => {
  it("is the least-squares growth in MiB per minute", () => {
    const samples = [0, 1, 2, 3].map((m) => ({ atMs: m * 60_000, rssBytes: (100 + 2 * m + (m % 2) * 0.5) * 2 ** 20 }));
    expect(memorySlopeMiBPerMinute(samples)).toBeCloseTo(2.1, 5);
    expect(memorySlopeMiBPerMinute(samples.slice(0, 1))).toBe(0);
  });
});
