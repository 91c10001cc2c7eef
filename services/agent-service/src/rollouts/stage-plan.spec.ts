import { create } from "@bufbuild/protobuf";
import { RolloutStageSpecSchema, type RolloutStageSpec } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../agents/agent-errors.js";
import { stageMembers, validateStages } from "./stage-plan.js";

const agents = (n: number): RolloutStageSpec => create(RolloutStageSpecSchema, { size: { case: "agents", value: n } });
const percent = (n: number): RolloutStageSpec => create(RolloutStageSpecSchema, { size: { case: "percent", value: n } });
const list = (...uids: string[]): RolloutStageSpec => create(RolloutStageSpecSchema, { size: { case: "instanceUids", value: { instanceUids: uids } } });
const uids = (n: number) => Array.from({ length: n }, (_, i) => `a${String(i).padStart(3, "0")}`);

describe("stage planning", () => {
  it("a rollout that names no stages gets a canary of one, then 10 %, 50 %, 100 %", () => {
    expect(validateStages([]).map((s) => [s.size.case, s.size.value])).toEqual([["agents", 1], ["percent", 10], ["percent", 50], ["percent", 100]]);
  });

  it.each([
    [[percent(50)], "the last stage (stages[0]) must be percent 100"],
    [[agents(3)], "must be percent 100"],
    [[percent(50), percent(40), percent(100)], "stages[1].percent is 40, not above the 50"],
    [[percent(0), percent(100)], "stages[0].percent is 0"],
    [[percent(101)], "stages[0].percent is 101"],
    [[agents(0), percent(100)], "stages[0].agents is 0"],
    [[list(), percent(100)], "stages[0].instance_uids is empty"],
    [[create(RolloutStageSpecSchema, {}), percent(100)], "stages[0] has no size"],
  ])("refuses stages that do not add up, naming the field (%#)", (stages, text) => {
    expect(() => validateStages(stages)).toThrow(InvalidRequestError);
    expect(() => validateStages(stages)).toThrow(text);
  });

  it("a canary of N takes the first N remaining agents in UID order", () => {
    expect(stageMembers(agents(3), uids(10), 0)).toEqual(["a000", "a001", "a002"]);
    expect(stageMembers(agents(30), uids(10), 0)).toHaveLength(10);
  });

  it("percentages are cumulative over the group as of the stage's start (moved + remaining), rounded up", () => {
    // 200 agents, 1 moved by the canary: 10 % means 20 in all, so 19 more.
    expect(stageMembers(percent(10), uids(199), 1)).toHaveLength(19);
    expect(stageMembers(percent(50), uids(180), 20)).toHaveLength(80);
    expect(stageMembers(percent(100), uids(100), 100)).toHaveLength(100);
    // Already past the share (agents left the group): the stage is empty.
    expect(stageMembers(percent(10), uids(50), 40)).toEqual([]);
    expect(stageMembers(percent(1), uids(7), 0)).toHaveLength(1);
  });

  it("an explicit list takes the named agents that are still to move, once each, case-insensitively", () => {
    expect(stageMembers(list("A001", "a005", "a001", "zzzz"), uids(10), 0)).toEqual(["a001", "a005"]);
  });
});
