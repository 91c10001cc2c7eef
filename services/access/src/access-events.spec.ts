import { describe, expect, it } from "vitest";
import type { AccessEventRecord, AccessRepository } from "./access-repository.js";
import { AccessEvents, type Refusal } from "./access-events.js";

const refusal: Refusal = { method: "fleetplane.agent.v1.AgentService/SetRemoteConfig", identity: "", outcome: "unauthenticated", reason: "no credential", peer: "10.0.0.9" };

function setup() {
  const stored: AccessEventRecord[] = [];
  const lines: unknown[][] = [];
  let now = 1_000_000;
  const logger = { warn: (...args: unknown[]) => lines.push(args) } as never;
  const events = new AccessEvents({ repository: { appendAccessEvent: async (e: AccessEventRecord) => void stored.push(e) } as unknown as AccessRepository, logger, logBurst: 3, logWindowMs: 10_000, now: () => now });
  return { events, stored, lines, advance: (ms: number) => (now += ms) };
}

describe("access events", () => {
  it("stores refused mutations with a time-ordered id, and not refused reads", async () => {
    const { events, stored } = setup();
    await events.refused(refusal, true);
    await events.refused({ ...refusal, method: "fleetplane.agent.v1.AgentService/ListAgents" }, false);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ ...refusal, atMs: 1_000_000 });
    expect(stored[0]!.id).toMatch(/^[0-9a-f]{32}$/);
  });

  it("logs at most a burst of refusals per window, then says with the next line how many it left out", async () => {
    const { events, lines, advance } = setup();
    for (let i = 0; i < 10; i++) await events.refused(refusal, false);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toEqual([refusal, "admin API call refused"]);
    advance(9_999);
    await events.refused(refusal, false);
    expect(lines).toHaveLength(3);
    advance(1);
    await events.refused(refusal, false);
    await events.refused(refusal, false);
    expect(lines[3]).toEqual([{ ...refusal, suppressed: 8 }, "admin API call refused"]);
    expect(lines[4]).toEqual([refusal, "admin API call refused"]);
    expect(lines).toHaveLength(5);
  });
});
