import { RolloutFailureAction } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { UsageError } from "@fleetplane/platform";
import { describe, expect, it } from "vitest";
import { parseDuration, parseStages, parseThreshold, startRequestOf } from "./rollout-flags.js";

const uid = "0192f0a0b1c2d3e4f5a6b7c8d9e0f1a2";

describe("rollout start flags", () => {
  it("reads --stages as a canary count, cumulative shares and named agents", () => {
    expect(parseStages(`5, 10%,50 %,${uid}+${uid.toUpperCase()},100%`).map((s) => s.size)).toEqual([
      { case: "agents", value: 5 },
      { case: "percent", value: 10 },
      { case: "percent", value: 50 },
      { case: "instanceUids", value: expect.objectContaining({ instanceUids: [uid, uid] }) },
      { case: "percent", value: 100 },
    ]);
  });

  it("names the flag and the entry that is wrong", () => {
    expect(() => parseStages("5,,100%")).toThrow(/--stages entry 2 \(""\) is empty/);
    expect(() => parseStages("0,100%")).toThrow(/--stages entry 1 \("0"\): a stage of agents moves at least 1 agent/);
    expect(() => parseStages("5,101%")).toThrow(/--stages entry 2 \("101%"\): a share lies in 1%–100%/);
    expect(() => parseStages("five")).toThrow(UsageError);
    expect(() => parseStages("five")).toThrow(/"five" is neither a number of agents/);
  });

  it("reads durations in ms, s, m and h, and a bare number as seconds", () => {
    expect(parseDuration("bake", "0")).toBe(0);
    expect(parseDuration("bake", "45")).toBe(45_000);
    expect(parseDuration("bake", "500ms")).toBe(500);
    expect(parseDuration("bake", "1m30s")).toBe(90_000);
    expect(parseDuration("bake", "2h")).toBe(7_200_000);
    expect(() => parseDuration("bake", "5 minutes")).toThrow(/--bake must be a duration like 30s/);
    expect(() => parseDuration("bake", "-5s")).toThrow(/--bake/);
  });

  it("reads --max-failed as a count or a share, and refuses a share over 100 %", () => {
    expect(parseThreshold("3")).toEqual({ case: "maxFailedAgents", value: 3 });
    expect(parseThreshold("2.5%")).toEqual({ case: "maxFailedPercent", value: 2.5 });
    expect(() => parseThreshold("120%")).toThrow(/--max-failed 120%: a share lies in 0%–100%/);
    expect(() => parseThreshold("-1")).toThrow(/--max-failed must be a number of agents/);
  });

  it("builds the StartRolloutRequest, leaving unset flags to the server's defaults", () => {
    const bare = startRequestOf({ group: "edge", "to-version": "7", namespace: "default", "skip-failed-agents": false });
    expect(bare).toMatchObject({ group: "edge", toVersion: 7, stages: [], onFailure: RolloutFailureAction.UNSPECIFIED, skipFailedAgents: false });
    expect(bare.gate).toBeUndefined();
    const full = startRequestOf({
      group: "edge",
      "to-version": "2",
      namespace: "team",
      stages: "1,100%",
      bake: "0",
      "stage-timeout": "2m",
      "max-failed": "10%",
      "on-failure": "rollback",
      "skip-failed-agents": true,
    });
    expect(full).toMatchObject({ namespace: "team", onFailure: RolloutFailureAction.ROLLBACK, skipFailedAgents: true });
    expect(full.gate).toMatchObject({ threshold: { case: "maxFailedPercent", value: 10 }, bakeTime: { seconds: 0n }, stageTimeout: { seconds: 120n } });
  });

  it("refuses a missing group or version, a bad version and an unknown failure action, naming the flag", () => {
    expect(() => startRequestOf({ "to-version": "2" })).toThrow(/--group is needed/);
    expect(() => startRequestOf({ group: "g" })).toThrow(/--to-version is needed/);
    expect(() => startRequestOf({ group: "g", "to-version": "v2" })).toThrow(/--to-version must be a version number/);
    expect(() => startRequestOf({ group: "g", "to-version": "2", "on-failure": "retry" })).toThrow(/--on-failure must be pause or rollback/);
    expect(() => startRequestOf({ group: "g", "to-version": "2", "stage-timeout": "0" })).toThrow(/--stage-timeout must be longer than 0/);
  });
});
