import { describe, expect, it } from "vitest";
import { perWorker } from "./gateway-workers.js";

describe("each gateway worker's share of the limits", () => {
  it("divides the new-agent rates and the connecting agents (agent-service's protection), rounding up; 0 (no limit), max connections (each process's own) and the rest hold as set", () => {
    const s = perWorker({ maxConnections: 10_001, newAgentsPerSecond: 101, newAgentsPerSecondPerSource: 0, maxConnectingAgents: 1_000, retryAfterMs: 5_000 }, 6);
    expect(s).toEqual({ maxConnections: 10_001, newAgentsPerSecond: 17, newAgentsPerSecondPerSource: 0, maxConnectingAgents: 167, retryAfterMs: 5_000 });
  });

  it("never rounds a limit down to 0, which would mean no limit", () => {
    expect(perWorker({ newAgentsPerSecond: 1 }, 6).newAgentsPerSecond).toBe(1);
    expect(perWorker({ maxConnectingAgents: 2 }, 6).maxConnectingAgents).toBe(1);
  });
});
