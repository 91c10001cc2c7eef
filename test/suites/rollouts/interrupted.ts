import { RolloutStageState, RolloutState } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { expect } from "vitest";
import { eventually } from "../../support/eventually.js";
import type { TestTopology } from "../../support/topology.js";
import { agentsStage, gate, groupWithAgents, isIn, percentStage, rolloutWhen } from "./rollout-fixtures.js";

/**
 * A rollout interrupted mid-stage (the process restarted, or its leading
 * replica killed) is finished by what comes back, with no decision lost:
 * `interrupt` does the damage and returns the topology to carry on with
 * and the OpAMP URL the agents reconnect to, and optionally a check run
 * once every agent is answered there.
 */
export async function interruptedRolloutFinishes(
  t: TestTopology,
  size: number,
  interrupt: (rolloutId: string) => Promise<{ rollouts: TestTopology["rollouts"]; wsUrl: string; moved?: () => Promise<void> }>,
): Promise<void> {
  const { group, fleet } = await groupWithAgents(t, { prefix: "cut", count: size });
  try {
    const { rollout } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [agentsStage(2), percentStage(50), percentStage(100)], gate: gate({ bakeMs: 1_500 }) });
    const baking = await rolloutWhen(t.rollouts, rollout!.id, (r) => r.currentStage === 1 && r.stages[1]!.state === RolloutStageState.BAKING, "the wave baking");

    const after = await interrupt(rollout!.id);
    await fleet.moveTo(after.wsUrl);
    await after.moved?.();
    const done = await rolloutWhen(after.rollouts, rollout!.id, isIn(RolloutState.SUCCEEDED), "the rollout finished after the interruption", 120_000);
    // The stages decided before the interruption stand as they were decided.
    expect(done.stages[0]!.agents).toEqual(baking.stages[0]!.agents);
    expect(done.stages[1]!.agents).toEqual(baking.stages[1]!.agents);
    expect(done.stages.flatMap((s) => s.agents).sort()).toEqual(fleet.uids);
    // No agent was sent v2 twice by a stage, and every one ends on v2.
    for (const uid of fleet.uids) {
      await eventually(() => fleet.bodies(uid).at(-1) === "v2\n", 10_000, `${uid} on v2`);
      expect(fleet.bodies(uid).filter((b) => b === "v2\n").length, uid).toBeLessThanOrEqual(2);
    }
  } finally {
    await fleet.close();
  }
}
