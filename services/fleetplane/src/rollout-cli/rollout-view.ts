import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  RolloutFailureAction,
  RolloutStageState,
  RolloutState,
  StageFailureKind,
  type Rollout,
  type RolloutStage,
  type RolloutStageSpec,
} from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { table } from "../fleet-cli/output-format.js";

// How a rollout reads on a terminal: `rollout status`, `rollout list` and
// the lines `rollout watch` prints as it moves. Plain text, no cursor
// tricks, so the same output reads well in a CI log.

/** Failing agents listed per stage before "… and N more". */
const FAILURES_SHOWN = 20;
const BAR_WIDTH = 20;

export const stateName = (s: RolloutState) => (RolloutState[s] ?? String(s)).toLowerCase().replace(/_/g, " ");
export const stageStateName = (s: RolloutStageState) => (RolloutStageState[s] ?? String(s)).toLowerCase();
const kindName = (k: StageFailureKind) => (StageFailureKind[k] ?? String(k)).toLowerCase().replace(/_/g, " ");

/** Where a rollout has ended: no decision will follow. */
export function isFinished(r: Rollout): boolean {
  return r.state === RolloutState.SUCCEEDED || r.state === RolloutState.ABORTED || r.state === RolloutState.ROLLED_BACK;
}

/** "[#########-----------]": `done` of `total`, `width` characters inside the brackets. */
export function progressBar(done: number, total: number, width = BAR_WIDTH): string {
  const filled = total <= 0 ? 0 : Math.min(width, Math.floor((done / total) * width));
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

/** What a stage asks for: "5 agents", "up to 50 %", "3 named agents". */
export function stageSpecText(spec: RolloutStageSpec | undefined): string {
  switch (spec?.size.case) {
    case "agents":
      return `${spec.size.value} agent${spec.size.value === 1 ? "" : "s"}`;
    case "percent":
      return `up to ${spec.size.value} %`;
    case "instanceUids":
      return `${spec.size.value.instanceUids.length} named agent${spec.size.value.instanceUids.length === 1 ? "" : "s"}`;
    default:
      return "-";
  }
}

const seconds = (from: Timestamp | undefined, to: Timestamp | undefined) => (from && to ? `${((timestampMs(to) - timestampMs(from)) / 1000).toFixed(1)} s` : "-");

/** One stage in one line: "stage 2/4  up to 10 %  applying  [####----]  12/40 applied, 1 failed, 27 pending". */
export function stageLine(r: Rollout, index: number): string {
  const s = r.stages[index]!;
  const head = `stage ${index + 1}/${r.stages.length}  ${stageSpecText(s.spec).padEnd(14)}  ${stageStateName(s.state).padEnd(8)}`;
  if (s.state === RolloutStageState.PENDING) return head;
  const took = s.finishedAt ? `  (${seconds(s.startedAt, s.finishedAt)})` : "";
  return `${head}  ${progressBar(s.applied, s.agents.length)}  ${s.applied}/${s.agents.length} applied, ${s.failed} failed, ${s.pending} pending${took}`;
}

/** The rollout in one line, as `rollout watch` prints each change. */
export function progressLine(r: Rollout): string {
  const reason = r.reason ? `: ${r.reason}` : "";
  if (isFinished(r) || r.stages.length === 0) {
    const applied = r.stages.reduce((n, s) => n + s.applied, 0);
    return `${stateName(r.state)}  ${applied} agent${applied === 1 ? "" : "s"} applied v${r.toVersion}${reason}`;
  }
  return `${stateName(r.state)}  ${stageLine(r, Math.min(r.currentStage, r.stages.length - 1))}${reason}`;
}

/** The failing agents of a stage, indented, at most FAILURES_SHOWN. */
export function failureLines(s: RolloutStage): string[] {
  const lines = s.failures.slice(0, FAILURES_SHOWN).map((f) => `    ${f.instanceUid}  ${kindName(f.kind)}${f.detail ? `: ${f.detail}` : ""}`);
  if (s.failures.length > FAILURES_SHOWN) lines.push(`    … and ${s.failures.length - FAILURES_SHOWN} more`);
  return lines;
}

/** `fleetplane rollout status`: the rollout, each stage with its bar, and why agents failed. */
export function statusText(r: Rollout): string {
  const out = [
    `rollout ${r.id}  (namespace ${r.namespace || "default"})`,
    `  group ${r.group}: ${r.configuration} v${r.fromVersion} → v${r.toVersion}, on failure ${r.onFailure === RolloutFailureAction.ROLLBACK ? "roll back" : "pause"}`,
    `  state ${stateName(r.state)}${r.reason ? `: ${r.reason}` : ""}`,
    `  started ${iso(r.createdAt)} by ${r.createdBy || "-"}, decision ${r.sequence} at ${iso(r.updatedAt)}`,
  ];
  if (r.skippedAgents.length > 0) out.push(`  left out by preflight: ${r.skippedAgents.length} agent(s)`);
  for (let i = 0; i < r.stages.length; i++) {
    out.push(`  ${stageLine(r, i)}`);
    out.push(...failureLines(r.stages[i]!));
  }
  return out.join("\n") + "\n";
}

/** `fleetplane rollout list`: one row per rollout, newest first. */
export function listText(rollouts: readonly Rollout[]): string {
  return table(
    ["ID", "GROUP", "VERSIONS", "STATE", "STAGE", "STARTED", "REASON"],
    rollouts.map((r) => [
      r.id,
      r.group,
      `${r.configuration} v${r.fromVersion} → v${r.toVersion}`,
      stateName(r.state),
      `${Math.min(r.currentStage + 1, r.stages.length)}/${r.stages.length}`,
      iso(r.createdAt),
      r.reason || "-",
    ]),
  );
}

function iso(t: Timestamp | undefined): string {
  return t ? new Date(timestampMs(t)).toISOString().replace(/\.\d+Z$/, "Z") : "-";
}
