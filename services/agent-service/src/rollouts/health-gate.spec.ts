import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AgentSchema, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { HealthGateSchema, StageFailureKind } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { RemoteConfigStatuses } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../agents/agent-errors.js";
import { evaluateStage, gateSettings, tooManyFailures, type GateSettings } from "./health-gate.js";

const NEW = new Uint8Array([1, 2, 3]);
const OLD = new Uint8Array([9]);
const gate = (o: Partial<GateSettings> = {}): GateSettings => ({ maxFailedAgents: 0, bakeMs: 1_000, timeoutMs: 10_000, ...o });

function agent(o: { hash?: Uint8Array; status?: RemoteConfigStatuses; error?: string; healthy?: boolean; connected?: boolean; disconnectedAt?: number } = {}): Agent {
  return create(AgentSchema, {
    status: {
      connected: o.connected ?? true,
      ...(o.disconnectedAt !== undefined ? { disconnectedAt: timestampFromMs(o.disconnectedAt) } : {}),
      ...(o.status !== undefined ? { remoteConfigStatus: { lastRemoteConfigHash: o.hash ?? NEW, status: o.status, errorMessage: o.error ?? "" } } : {}),
      ...(o.healthy !== undefined ? { health: { healthy: o.healthy, lastError: o.healthy ? "" : "exporter down" } } : {}),
    },
  });
}
const APPLIED = RemoteConfigStatuses.RemoteConfigStatuses_APPLIED;
const FAILED = RemoteConfigStatuses.RemoteConfigStatuses_FAILED;
const judge = (agents: Record<string, Agent>, clock: { startedAt: number; bakingSince?: number }, g = gate(), now = 100) =>
  evaluateStage(Object.keys(agents), new Map(Object.entries(agents)), NEW, clock, g, now);

describe("health gate", () => {
  it("waits while agents have not reported the new version (an old hash counts as not reported)", () => {
    const e = judge({ a: agent({ status: APPLIED }), b: agent({ status: APPLIED, hash: OLD }), c: agent() }, { startedAt: 0 });
    expect(e).toMatchObject({ applied: 1, pending: 2, failures: [], verdict: "wait" });
  });

  it("starts the bake when all applied, passes after the bake time, or at once with no bake time", () => {
    const all = { a: agent({ status: APPLIED }), b: agent({ status: APPLIED }) };
    expect(judge(all, { startedAt: 0 }).verdict).toBe("bake");
    expect(judge(all, { startedAt: 0, bakingSince: 50 }, gate(), 500).verdict).toBe("wait");
    expect(judge(all, { startedAt: 0, bakingSince: 50 }, gate(), 1_050).verdict).toBe("pass");
    expect(judge(all, { startedAt: 0 }, gate({ bakeMs: 0 })).verdict).toBe("pass");
  });

  it("fails on FAILED reports beyond the threshold, naming each agent and its error", () => {
    const e = judge({ a: agent({ status: FAILED, error: "unknown exporter kafka" }), b: agent({ status: APPLIED }) }, { startedAt: 0 });
    expect(e.verdict).toBe("fail");
    expect(e.failures).toEqual([expect.objectContaining({ instanceUid: "a", kind: StageFailureKind.FAILED, detail: "unknown exporter kafka" })]);
    expect(judge({ a: agent({ status: FAILED }), b: agent({ status: APPLIED }) }, { startedAt: 0 }, gate({ maxFailedAgents: 1 })).verdict).toBe("bake");
  });

  it("while baking, unhealthy agents and agents that disconnected since the bake began fail it", () => {
    const baking = { startedAt: 0, bakingSince: 50 };
    const sick = judge({ a: agent({ status: APPLIED, healthy: false }) }, baking);
    expect(sick).toMatchObject({ verdict: "fail", failures: [expect.objectContaining({ kind: StageFailureKind.UNHEALTHY, detail: "exporter down" })] });
    expect(judge({ a: agent({ status: APPLIED, connected: false }) }, baking).failures[0]!.kind).toBe(StageFailureKind.DISCONNECTED);
    // Reconnected since: the disconnect during the bake still counts.
    expect(judge({ a: agent({ status: APPLIED, disconnectedAt: 60 }) }, baking).verdict).toBe("fail");
    // A disconnect before the bake began does not.
    expect(judge({ a: agent({ status: APPLIED, disconnectedAt: 10 }) }, baking).verdict).toBe("wait");
    // Unhealthy before the bake (still applying) is not judged yet.
    expect(judge({ a: agent({ status: APPLIED, healthy: false }), b: agent() }, { startedAt: 0 }).verdict).toBe("wait");
  });

  it("an agent that applied and is away holds the bake back until it returns, or fails the stage at the timeout", () => {
    const away = { a: agent({ status: APPLIED, connected: false }), b: agent({ status: APPLIED }) };
    expect(judge(away, { startedAt: 0 })).toMatchObject({ applied: 1, pending: 1, verdict: "wait" });
    const late = judge(away, { startedAt: 0 }, gate(), 10_000);
    expect(late).toMatchObject({ verdict: "fail", failures: [expect.objectContaining({ instanceUid: "a", kind: StageFailureKind.DISCONNECTED })] });
  });

  it("agents unreported past the stage timeout count as failed; a deleted agent too", () => {
    const e = judge({ a: agent(), b: agent({ status: APPLIED }) }, { startedAt: 0 }, gate(), 10_000);
    expect(e).toMatchObject({ verdict: "fail", failures: [expect.objectContaining({ instanceUid: "a", kind: StageFailureKind.TIMED_OUT })] });
    const gone = evaluateStage(["x"], new Map(), NEW, { startedAt: 0 }, gate(), 1);
    expect(gone.failures[0]).toMatchObject({ instanceUid: "x", kind: StageFailureKind.DISCONNECTED });
  });

  it("thresholds: a count tolerates that many; a share is of the stage's agents", () => {
    expect(tooManyFailures(2, 10, gate({ maxFailedAgents: 2 }))).toBe(false);
    expect(tooManyFailures(3, 10, gate({ maxFailedAgents: 2 }))).toBe(true);
    const pct = { maxFailedPercent: 10, bakeMs: 0, timeoutMs: 1 };
    expect(tooManyFailures(1, 10, pct)).toBe(false);
    expect(tooManyFailures(2, 10, pct)).toBe(true);
  });

  it("settings: defaults, and a share outside 0–100 % refused naming the field", () => {
    expect(gateSettings(undefined)).toEqual({ maxFailedAgents: 0, bakeMs: 60_000, timeoutMs: 600_000 });
    expect(gateSettings(create(HealthGateSchema, { bakeTime: durationFromMs(200), threshold: { case: "maxFailedPercent", value: 5 } }))).toMatchObject({ bakeMs: 200, maxFailedPercent: 5 });
    for (const p of [-1, 101, Number.NaN]) {
      expect(() => gateSettings(create(HealthGateSchema, { threshold: { case: "maxFailedPercent", value: p } }))).toThrow(InvalidRequestError);
    }
    expect(() => gateSettings(create(HealthGateSchema, { threshold: { case: "maxFailedPercent", value: 101 } }))).toThrow("gate.max_failed_percent");
  });
});
