import { SERVER_CAPABILITIES, serverToAgent } from "@fleetplane/opamp";
import { describe, expect, it } from "vitest";
import { AgentLiveness, type LivenessPolicy } from "./agent-liveness.js";

const UID = new Uint8Array(16).fill(7);
const policy: LivenessPolicy = { missedIntervals: 3, defaultIntervalMs: 30_000 };
const offer = (seconds: bigint) => serverToAgent(UID, SERVER_CAPABILITIES, { connectionSettings: { opamp: { destinationEndpoint: "ws://x/v1/opamp", heartbeatIntervalSeconds: seconds } } });

describe("agent liveness", () => {
  it("gives an agent of unknown interval the spec's 30 s times the missed intervals", () => {
    const live = new AgentLiveness(0);
    expect(live.isOverdue(90_000, policy)).toBe(false);
    expect(live.isOverdue(90_001, policy)).toBe(true);
    live.heard(60_000);
    expect(live.isOverdue(150_000, policy)).toBe(false);
    expect(live.isOverdue(150_001, policy)).toBe(true);
  });

  it("is never overdue while a message of its is being answered, and counts silence from the answer", () => {
    const live = new AgentLiveness(0);
    live.heard(10_000);
    live.answering();
    // agent-service takes 200 s to answer: the agent waits on us, it is not silent.
    expect(live.isOverdue(200_000, policy)).toBe(false);
    live.answered(210_000);
    expect(live.isOverdue(300_000, policy)).toBe(false);
    expect(live.isOverdue(300_001, policy)).toBe(true);
    // An answer never moves the silence back, and an unbalanced answer counts nothing in hand.
    live.heard(400_000);
    live.answered(390_000);
    live.answered(390_000);
    expect(live.isOverdue(490_001, policy)).toBe(true);
  });

  it("uses the interval the agent runs at, as agent-service reports it", () => {
    const live = new AgentLiveness(0);
    live.runsAt(5n);
    expect(live.isOverdue(15_001, policy)).toBe(true);
    expect(live.isOverdue(15_000, { ...policy, missedIntervals: 3 })).toBe(false);
    expect(live.isOverdue(10_001, { ...policy, missedIntervals: 2 })).toBe(true);
    live.runsAt(0n); // unknown again
    expect(live.isOverdue(89_000, policy)).toBe(false);
  });

  it("never judges an agent by a shorter interval while a longer one is on its way, and forgets the offer once agent-service answers", () => {
    const live = new AgentLiveness(0);
    live.runsAt(5n);
    live.sent(offer(60n));
    expect(live.intervalMs(policy)).toBe(60_000);
    live.sent(serverToAgent(UID, SERVER_CAPABILITIES)); // a message without an offer changes nothing
    expect(live.intervalMs(policy)).toBe(60_000);
    live.runsAt(60n); // applied
    expect(live.intervalMs(policy)).toBe(60_000);
    live.sent(offer(10n));
    expect(live.intervalMs(policy)).toBe(60_000); // still at 60 s until it confirms
    live.runsAt(60n); // refused: stays at 60 s
    expect(live.intervalMs(policy)).toBe(60_000);
    live.runsAt(10n);
    expect(live.intervalMs(policy)).toBe(10_000);
  });
});
