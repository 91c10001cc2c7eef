import { create } from "@bufbuild/protobuf";
import { RolloutStageSpecSchema, type RolloutStageSpec } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { InvalidRequestError } from "../agents/agent-errors.js";

/** The stages of a rollout that names none: a canary of one agent, then 10 %, 50 %, 100 % of the group. */
export function defaultStages(): RolloutStageSpec[] {
  return [
    create(RolloutStageSpecSchema, { size: { case: "agents", value: 1 } }),
    ...[10, 50, 100].map((p) => create(RolloutStageSpecSchema, { size: { case: "percent", value: p } })),
  ];
}

/**
 * Checks the stages an admin gave (empty: the default ones) and returns
 * those to run. They must add up: percentages are cumulative, rise, lie in
 * 1–100, and the last stage is 100 % so every agent is covered.
 */
export function validateStages(specs: readonly RolloutStageSpec[]): RolloutStageSpec[] {
  if (specs.length === 0) return defaultStages();
  let lastPercent = 0;
  specs.forEach((spec, i) => {
    const field = `stages[${i}]`;
    switch (spec.size.case) {
      case "agents":
        if (spec.size.value === 0) throw new InvalidRequestError(`${field}.agents is 0: a stage moves at least one agent`);
        break;
      case "percent":
        if (spec.size.value < 1 || spec.size.value > 100) throw new InvalidRequestError(`${field}.percent is ${spec.size.value}: a stage's share lies in 1–100`);
        if (spec.size.value <= lastPercent) throw new InvalidRequestError(`${field}.percent is ${spec.size.value}, not above the ${lastPercent} % an earlier stage reached (percentages are cumulative)`);
        lastPercent = spec.size.value;
        break;
      case "instanceUids":
        if (spec.size.value.instanceUids.length === 0) throw new InvalidRequestError(`${field}.instance_uids is empty: name the agents of the stage`);
        break;
      default:
        throw new InvalidRequestError(`${field} has no size: give agents, percent or instance_uids`);
    }
  });
  const last = specs[specs.length - 1]!;
  if (last.size.case !== "percent" || last.size.value !== 100) {
    throw new InvalidRequestError(`stages do not add up: the last stage (stages[${specs.length - 1}]) must be percent 100 so every agent of the group gets the new version`);
  }
  return [...specs];
}

/**
 * The agents a stage moves, chosen when it starts: from `remaining` (the
 * group's agents not yet moved nor left out, in instance-UID order so every
 * replica chooses alike), given `moved` agents already have the new
 * version. A percentage is of the group as of the stage's start (moved +
 * remaining), so agents that joined meanwhile count.
 */
export function stageMembers(spec: RolloutStageSpec, remaining: readonly string[], moved: number): string[] {
  switch (spec.size.case) {
    case "agents":
      return remaining.slice(0, spec.size.value);
    case "percent": {
      const target = spec.size.value >= 100 ? moved + remaining.length : Math.ceil(((moved + remaining.length) * spec.size.value) / 100);
      return remaining.slice(0, Math.max(0, target - moved));
    }
    case "instanceUids": {
      const open = new Set(remaining);
      return [...new Set(spec.size.value.instanceUids.map((u) => u.toLowerCase()))].filter((u) => open.has(u));
    }
    default:
      return [];
  }
}
