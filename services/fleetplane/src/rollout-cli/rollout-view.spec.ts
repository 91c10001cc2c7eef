import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { RolloutSchema, RolloutStageState, RolloutState, StageFailureKind } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { describe, expect, it } from "vitest";
import { isFinished, listText, progressBar, progressLine, statusText } from "./rollout-view.js";

const rollout = (o: { state?: RolloutState; reason?: string } = {}) =>
  create(RolloutSchema, {
    id: "r1",
    namespace: "default",
    group: "edge",
    configuration: "gw",
    fromVersion: 1,
    toVersion: 2,
    state: RolloutState.RUNNING,
    currentStage: 1,
    sequence: 4n,
    createdAt: timestampFromMs(Date.UTC(2026, 0, 2, 3, 4, 5)),
    stages: [
      { spec: { size: { case: "agents", value: 1 } }, state: RolloutStageState.PASSED, agents: ["a"], applied: 1, startedAt: timestampFromMs(0), finishedAt: timestampFromMs(1_500) },
      { spec: { size: { case: "percent", value: 100 } }, state: RolloutStageState.APPLYING, agents: ["b", "c", "d", "e"], applied: 2, pending: 1, failed: 1,
        failures: [{ instanceUid: "e", kind: StageFailureKind.FAILED, detail: "unknown exporter kafka" }] },
    ],
    ...o,
  });

describe("how a rollout reads on a terminal", () => {
  it("draws a bar of what is done", () => {
    expect(progressBar(0, 4, 8)).toBe("[--------]");
    expect(progressBar(2, 4, 8)).toBe("[####----]");
    expect(progressBar(4, 4, 8)).toBe("[########]");
    expect(progressBar(0, 0, 4)).toBe("[----]");
  });

  it("shows each stage with its bar, counts and time, and the failing agents with why", () => {
    const text = statusText(rollout());
    expect(text).toContain("group edge: gw v1 → v2, on failure pause");
    expect(text).toMatch(/stage 1\/2\s+1 agent\s+passed\s+\[#+\]\s+1\/1 applied, 0 failed, 0 pending\s+\(1\.5 s\)/);
    expect(text).toMatch(/stage 2\/2\s+up to 100 %\s+applying\s+\[#{10}-{10}\]\s+2\/4 applied, 1 failed, 1 pending/);
    expect(text).toContain("    e  failed: unknown exporter kafka");
  });

  it("puts the stage under way in one line while running, and the outcome once finished", () => {
    expect(progressLine(rollout())).toMatch(/^running\s+stage 2\/2 .*2\/4 applied/);
    const done = rollout({ state: RolloutState.SUCCEEDED, reason: "" });
    expect(isFinished(done)).toBe(true);
    expect(progressLine(done)).toBe("succeeded  3 agents applied v2");
    expect(progressLine(rollout({ state: RolloutState.PAUSED, reason: "stage 2 failed" }))).toMatch(/^paused .*: stage 2 failed$/);
  });

  it("lists rollouts one a row", () => {
    const text = listText([rollout()]);
    expect(text.split("\n")[0]).toMatch(/^ID\s+GROUP\s+VERSIONS\s+STATE\s+STAGE\s+STARTED\s+REASON$/);
    expect(text).toMatch(/r1\s+edge\s+gw v1 → v2\s+running\s+2\/2\s+2026-01-02T03:04:05Z\s+-/);
  });
});
