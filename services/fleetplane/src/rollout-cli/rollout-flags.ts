import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  AgentListSchema,
  HealthGateSchema,
  RolloutFailureAction,
  RolloutStageSpecSchema,
  type HealthGate,
  type RolloutStageSpec,
} from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { StartRolloutRequestSchema, type StartRolloutRequest } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_service_pb";
import { UsageError, type OptionValues } from "@fleetplane/platform";

// The flags of `fleetplane rollout start`, read into a StartRolloutRequest.
// Only the syntax is checked here (each error names its flag); what the
// server decides (stages that add up, a version the group does not run) it
// answers itself, naming the request field.

/** A hex instance UID (16 bytes), as the API writes them. */
const UID = /^[0-9a-f]{32}$/i;

/**
 * `--stages 5,10%,50%,100%`: each entry a canary of N agents (`5`), a
 * cumulative share (`10%`), or the agents to take, hex UIDs joined by `+`.
 */
export function parseStages(text: string): RolloutStageSpec[] {
  const entries = text.split(",").map((s) => s.trim());
  return entries.map((entry, i) => {
    const where = `--stages entry ${i + 1} ("${entry}")`;
    if (entry === "") throw new UsageError(`${where} is empty: write e.g. --stages 5,10%,50%,100%`);
    const percent = /^(\d+)\s*%$/.exec(entry);
    if (percent) {
      const p = Number(percent[1]);
      if (p < 1 || p > 100) throw new UsageError(`${where}: a share lies in 1%–100%`);
      return create(RolloutStageSpecSchema, { size: { case: "percent", value: p } });
    }
    if (/^\d+$/.test(entry)) {
      const n = Number(entry);
      if (n < 1 || !Number.isSafeInteger(n) || n > 0xffffffff) throw new UsageError(`${where}: a stage of agents moves at least 1 agent`);
      return create(RolloutStageSpecSchema, { size: { case: "agents", value: n } });
    }
    const uids = entry.split("+").map((u) => u.trim());
    const bad = uids.find((u) => !UID.test(u));
    if (bad !== undefined) throw new UsageError(`${where}: "${bad}" is neither a number of agents (5), a share (10%), nor a hex instance UID (32 hex digits; join several with +)`);
    return create(RolloutStageSpecSchema, { size: { case: "instanceUids", value: create(AgentListSchema, { instanceUids: uids.map((u) => u.toLowerCase()) }) } });
  });
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** "30s", "5m", "1h", "500ms", "1m30s"; a bare number is seconds. */
export function parseDuration(flag: string, text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== t) {
    throw new UsageError(`--${flag} must be a duration like 30s, 5m, 1h30m or 500ms (a bare number is seconds), got "${text}"`);
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * UNITS_MS[p[2]!]!, 0);
}

/** `--max-failed 3` (agents) or `--max-failed 2%` (share of the stage's agents). */
export function parseThreshold(text: string): HealthGate["threshold"] {
  const t = text.trim();
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(t);
  if (percent) {
    const p = Number(percent[1]);
    if (p > 100) throw new UsageError(`--max-failed ${text}: a share lies in 0%–100%`);
    return { case: "maxFailedPercent", value: p };
  }
  if (/^\d+$/.test(t) && Number(t) <= 0xffffffff) return { case: "maxFailedAgents", value: Number(t) };
  throw new UsageError(`--max-failed must be a number of agents (3) or a share of the stage's agents (2%), got "${text}"`);
}

export function parseFailureAction(text: string): RolloutFailureAction {
  if (text === "pause") return RolloutFailureAction.PAUSE;
  if (text === "rollback") return RolloutFailureAction.ROLLBACK;
  throw new UsageError(`--on-failure must be pause or rollback, got "${text}"`);
}

/** A version number: a whole number from 1. */
export function parseVersion(flag: string, value: OptionValues[string]): number {
  const n = Number(value);
  if (value === undefined) throw new UsageError(`--${flag} is needed: the configuration version to roll out (see --help)`);
  if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) throw new UsageError(`--${flag} must be a version number (1, 2, …), got "${String(value)}"`);
  return n;
}

/** The StartRolloutRequest the flags of `fleetplane rollout start` describe; unset flags leave the server's defaults. */
export function startRequestOf(values: OptionValues): StartRolloutRequest {
  if (values.group === undefined || values.group === "") throw new UsageError("--group is needed: the group to roll out (see --help)");
  const gate = create(HealthGateSchema, {
    ...(values["max-failed"] !== undefined ? { threshold: parseThreshold(String(values["max-failed"])) } : {}),
    ...(values.bake !== undefined ? { bakeTime: durationFromMs(parseDuration("bake", String(values.bake))) } : {}),
    ...(values["stage-timeout"] !== undefined ? { stageTimeout: durationFromMs(positive("stage-timeout", parseDuration("stage-timeout", String(values["stage-timeout"])))) } : {}),
  });
  const gateGiven = gate.threshold.case !== undefined || gate.bakeTime !== undefined || gate.stageTimeout !== undefined;
  return create(StartRolloutRequestSchema, {
    namespace: String(values.namespace ?? "default"),
    group: String(values.group),
    toVersion: parseVersion("to-version", values["to-version"]),
    stages: values.stages === undefined ? [] : parseStages(String(values.stages)),
    ...(gateGiven ? { gate } : {}),
    onFailure: values["on-failure"] === undefined ? RolloutFailureAction.UNSPECIFIED : parseFailureAction(String(values["on-failure"])),
    skipFailedAgents: values["skip-failed-agents"] === true,
  });
}

function positive(flag: string, ms: number): number {
  if (ms <= 0) throw new UsageError(`--${flag} must be longer than 0`);
  return ms;
}
