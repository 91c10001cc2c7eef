import { describe, expect, it } from "vitest";
import { perWorker } from "./gateway-workers.js";

describe("each gateway worker's share of the limits", () => {
  it("divides connection and new-agent limits, rounding up, and keeps 0 (no limit) and the rest as set", () => {
    const s = perWorker({ maxConnections: 10_001, newAgentsPerSecond: 100, newAgentsPerSecondPerSource: 0, retryAfterMs: 5_000 }, 4);
    expect(s).toEqual({ maxConnections: 2_501, newAgentsPerSecond: 25, newAgentsPerSecondPerSource: 0, retryAfterMs: 5_000 });
  });

  it("never rounds a limit down to 0, which would mean no limit", () => {
    expect(perWorker({ newAgentsPerSecond: 1 }, 6).newAgentsPerSecond).toBe(1);
  });
});
