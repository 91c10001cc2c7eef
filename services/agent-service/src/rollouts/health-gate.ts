import { create } from "@bufbuild/protobuf";
import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { StageFailureKind, StageFailureSchema, type HealthGate, type StageFailure } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { RemoteConfigStatuses } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { InvalidRequestError } from "../agents/agent-errors.js";
import { hashesEqual } from "../agents/config-hash.js";

/** Bake time when the gate names none. */
export const DEFAULT_BAKE_MS = 60_000;
/** Stage timeout when the gate names none. */
export const DEFAULT_STAGE_TIMEOUT_MS = 10 * 60_000;

/** A health gate as the driver applies it. */
export interface GateSettings {
  /** More failures than this fail the stage (count); undefined when a share is given. */
  maxFailedAgents?: number;
  /** More failures than this share (0–100) of the stage's agents fail it. */
  maxFailedPercent?: number;
  bakeMs: number;
  timeoutMs: number;
}

/** Checks a gate (thresholds, durations) and fills in its defaults. */
export function gateSettings(gate: HealthGate | undefined): GateSettings {
  const bakeMs = gate?.bakeTime ? durationMs(gate.bakeTime) : DEFAULT_BAKE_MS;
  const timeoutMs = gate?.stageTimeout ? durationMs(gate.stageTimeout) : DEFAULT_STAGE_TIMEOUT_MS;
  if (bakeMs < 0) throw new InvalidRequestError("gate.bake_time is negative");
  if (timeoutMs <= 0) throw new InvalidRequestError("gate.stage_timeout must be positive");
  switch (gate?.threshold.case) {
    case "maxFailedPercent": {
      const p = gate.threshold.value;
      if (!Number.isFinite(p) || p < 0 || p > 100) throw new InvalidRequestError(`gate.max_failed_percent is ${p}: a share lies in 0–100`);
      return { maxFailedPercent: p, bakeMs, timeoutMs };
    }
    case "maxFailedAgents":
      return { maxFailedAgents: gate.threshold.value, bakeMs, timeoutMs };
    default:
      return { maxFailedAgents: 0, bakeMs, timeoutMs };
  }
}

/** Whether `failed` of a stage's `members` agents is more than the gate tolerates. */
export function tooManyFailures(failed: number, members: number, gate: GateSettings): boolean {
  if (gate.maxFailedPercent !== undefined) return members > 0 && (failed * 100) / members > gate.maxFailedPercent;
  return failed > (gate.maxFailedAgents ?? 0);
}

/** Where a stage's agents are, judged against the new version's hash. */
export interface StageEvaluation {
  applied: number;
  /** The agents counted in `applied` (uids). */
  appliedAgents: string[];
  pending: number;
  failures: StageFailure[];
  /**
   * wait: nothing to decide yet; bake: all reported, start the bake time;
   * pass: the stage passed; fail: more failures than the gate tolerates.
   */
  verdict: "wait" | "bake" | "pass" | "fail";
}

/** The stage as the gate sees it: when it started, and since when it bakes (undefined: still applying). */
export interface StageClock {
  startedAt: number;
  bakingSince?: number;
}

/**
 * The health gate: judges each agent of a stage from what it last reported
 * (a stored Agent, or undefined when it is gone) and decides. An agent fails
 * the stage when it reported FAILED for the new version; after applying,
 * while the stage bakes, when its health says unhealthy or it disconnected
 * since the bake began; and when it reported neither APPLIED nor FAILED
 * within the stage timeout. The bake starts once every agent applied and
 * is connected (an agent that applied and went away is waited for, up to
 * the stage timeout).
 */
export function evaluateStage(members: readonly string[], agents: ReadonlyMap<string, Agent>, toHash: Uint8Array, clock: StageClock, gate: GateSettings, now: number): StageEvaluation {
  const appliedAgents: string[] = [];
  let pending = 0;
  const failures: StageFailure[] = [];
  const fail = (uid: string, kind: StageFailureKind, detail: string) => failures.push(create(StageFailureSchema, { instanceUid: uid, kind, detail }));
  const timedOut = now >= clock.startedAt + gate.timeoutMs;
  for (const uid of members) {
    const agent = agents.get(uid);
    if (!agent) {
      fail(uid, StageFailureKind.DISCONNECTED, "the agent was deleted");
      continue;
    }
    const reported = agent.status?.remoteConfigStatus;
    const forNew = reported !== undefined && hashesEqual(reported.lastRemoteConfigHash, toHash);
    if (forNew && reported.status === RemoteConfigStatuses.RemoteConfigStatuses_FAILED) {
      fail(uid, StageFailureKind.FAILED, reported.errorMessage);
      continue;
    }
    if (!forNew || reported.status !== RemoteConfigStatuses.RemoteConfigStatuses_APPLIED) {
      if (timedOut) fail(uid, StageFailureKind.TIMED_OUT, `no APPLIED or FAILED within ${gate.timeoutMs} ms`);
      else pending++;
      continue;
    }
    if (clock.bakingSince === undefined) {
      // Applied but away: the bake starts once it is back (or the stage times out).
      if (!agent.status?.connected) {
        if (timedOut) fail(uid, StageFailureKind.DISCONNECTED, "applied, then stayed disconnected past the stage timeout");
        else pending++;
        continue;
      }
    } else {
      const health = agent.status?.health;
      if (health && !health.healthy) {
        fail(uid, StageFailureKind.UNHEALTHY, health.lastError);
        continue;
      }
      const disconnectedAt = agent.status?.disconnectedAt ? timestampMs(agent.status.disconnectedAt) : undefined;
      if (!agent.status?.connected || (disconnectedAt !== undefined && disconnectedAt >= clock.bakingSince)) {
        fail(uid, StageFailureKind.DISCONNECTED, "disconnected during the bake time");
        continue;
      }
    }
    appliedAgents.push(uid);
  }
  const evaluation = { applied: appliedAgents.length, appliedAgents, pending, failures };
  if (tooManyFailures(failures.length, members.length, gate)) return { ...evaluation, verdict: "fail" };
  if (pending > 0) return { ...evaluation, verdict: "wait" };
  if (clock.bakingSince === undefined) return { ...evaluation, verdict: gate.bakeMs === 0 ? "pass" : "bake" };
  return { ...evaluation, verdict: now >= clock.bakingSince + gate.bakeMs ? "pass" : "wait" };
}
