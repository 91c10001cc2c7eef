import { RolloutStageState, RolloutState } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { instanceUidToHex as hex } from "@fleetplane/platform";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "../opamp/started-topology.js";
import { agentsStage, gate, groupWithAgents, isIn, percentStage, rolloutWhen } from "./rollout-fixtures.js";

/** A rollout that passes: stage by stage, each after the one before, until the group runs the new version. */
export function stagesBehaviour(topology: Topology, size: number): void {
  describe("a rollout that passes", () => {
    it(`moves ${size} agents canary first, then in waves, each stage after the previous passed; the group ends on the new version`, async () => {
      const t = topology();
      const { group, fleet } = await groupWithAgents(t, { prefix: "roll", count: size, urls: t.opampUrls.map((u) => u.wsUrl) });
      try {
        // One agent with its own configuration: a rollout never touches it.
        const own = fleet.uids[0]!;
        await t.agents.setRemoteConfig({ instanceUid: own, files: { "": { content: { case: "text", value: "mine\n" } } } });
        await eventually(() => fleet.bodies(own).includes("mine\n"), 30_000, "the override");

        const { rollout } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [agentsStage(2), percentStage(25), percentStage(100)], gate: gate() });
        expect(rollout).toMatchObject({ state: RolloutState.RUNNING, fromVersion: 1, toVersion: 2 });
        const done = await rolloutWhen(t.rollouts, rollout!.id, isIn(RolloutState.SUCCEEDED), "the rollout to succeed", 120_000);

        const targets = size - 1;
        expect(done.stages.map((s) => s.state)).toEqual([RolloutStageState.PASSED, RolloutStageState.PASSED, RolloutStageState.PASSED]);
        expect(done.stages.map((s) => s.agents.length)).toEqual([2, Math.ceil(targets * 0.25) - 2, targets - Math.ceil(targets * 0.25)]);
        expect(done.stages.flatMap((s) => s.agents).sort()).toEqual(fleet.uids.filter((u) => u !== own));
        // Each stage's agents were sent v2 only after the stage before passed.
        for (let i = 1; i < done.stages.length; i++) {
          const previousPassed = timestampMs(done.stages[i - 1]!.finishedAt!);
          for (const uid of done.stages[i]!.agents) {
            const got = fleet.sent.get(uid)!.find((r) => r.body === "v2\n");
            expect(got, `${uid} got v2`).toBeDefined();
            expect(got!.at).toBeGreaterThanOrEqual(previousPassed - 50);
          }
        }
        expect(fleet.bodies(own)).not.toContain("v2\n");
        // The group's own version moves once the rollout is done.
        const after = await eventually(async () => {
          const { group: g } = await t.groups.getGroup({ name: group });
          return g!.rolloutRunning ? undefined : g;
        }, 10_000, "the group released by its rollout");
        expect(after).toMatchObject({ configurationVersion: 2, rollout: rollout!.id, rolloutRunning: false });
      } finally {
        await fleet.close();
      }
    }, 300_000);

    it("an agent that joins mid-rollout gets the version the group runs, and the new one with the stage that starts next (or when the rollout ends)", async () => {
      const t = topology();
      const { group, fleet } = await groupWithAgents(t, { prefix: "late", count: 4 });
      try {
        const { rollout } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [agentsStage(1), percentStage(100)], gate: gate({ bakeMs: 2_000 }) });
        await rolloutWhen(t.rollouts, rollout!.id, (r) => r.stages[0]!.state === RolloutStageState.BAKING, "the canary baking");
        const late = hex((await fleet.join(t.wsUrl)).uid);
        await eventually(() => fleet.bodies(late).includes("v1\n"), 10_000, "the late agent on v1");
        expect(fleet.bodies(late)).not.toContain("v2\n");
        const done = await rolloutWhen(t.rollouts, rollout!.id, isIn(RolloutState.SUCCEEDED), "the rollout to succeed");
        expect(done.stages[1]!.agents).toContain(late);
        await eventually(() => fleet.bodies(late).includes("v2\n"), 10_000, "the late agent on v2");
      } finally {
        await fleet.close();
      }
    });

    it("WatchRollouts streams each decision: the state first, then every stage's progress to the end", async () => {
      const t = topology();
      const { group, fleet } = await groupWithAgents(t, { prefix: "watch", count: 3 });
      const controller = new AbortController();
      try {
        // Each bake outlasts the watch's poll (at most 500 ms apart): the second stage's bake, which
        // cannot have begun when the watch starts, is seen between the first look and the end.
        const { rollout } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [agentsStage(1), percentStage(100)], gate: gate({ bakeMs: 1_200 }) });
        const seen: Array<[number, RolloutState]> = [];
        for await (const { rollout: r } of t.rollouts.watchRollouts({ id: rollout!.id }, { signal: controller.signal })) {
          seen.push([Number(r!.sequence), r!.state]);
          if (r!.state === RolloutState.SUCCEEDED) break;
        }
        const numbers = seen.map(([n]) => n);
        expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
        expect(seen.at(-1)![1]).toBe(RolloutState.SUCCEEDED);
        expect(seen.length).toBeGreaterThan(2);
      } finally {
        controller.abort();
        await fleet.close();
      }
    });
  });
}
