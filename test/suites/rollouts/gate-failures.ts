import { RolloutFailureAction, RolloutStageState, RolloutState, StageFailureKind } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { describe, expect, it } from "vitest";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "../opamp/started-topology.js";
import type { Answer, RolloutFleet } from "./rollout-fleet.js";
import { agentsStage, gate, groupWithAgents, isIn, percentStage, rolloutWhen } from "./rollout-fixtures.js";

const fails = (body: string): Answer => (body === "v2\n" ? { applied: false, error: "exporters: unknown type kafka" } : { applied: true });

/**
 * An agent a stage moved ends on v1 again: sent v2, then v1 by the
 * rollback. One the stage failed before v2 reached it is not sent v1 again
 * (the rollback superseded the undelivered v2, and it runs v1 already).
 */
async function backOnV1(fleet: RolloutFleet, uid: string): Promise<void> {
  await eventually(() => fleet.bodies(uid).at(-1) === "v1\n", 20_000, `${uid} back on v1`).catch((err: Error) => {
    throw new Error(`${err.message} (it was sent ${JSON.stringify(fleet.bodies(uid))})`);
  });
  expect(fleet.bodies(uid).every((b) => b === "v1\n" || b === "v2\n"), uid).toBe(true);
}

/** The health gate stopping a rollout: FAILED reports, unhealthy and disconnecting agents; pausing, and rolling back. */
export function gateFailuresBehaviour(topology: Topology, size: number): void {
  describe("the health gate", () => {
    it("canary agents reporting FAILED pause the rollout with the reason and the failing agents; rollback then restores v1 on exactly them", async () => {
      const t = topology();
      const { group, fleet } = await groupWithAgents(t, { prefix: "fail", count: size, urls: t.opampUrls.map((u) => u.wsUrl), answer: (_uid, body) => fails(body) });
      try {
        const { rollout } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [agentsStage(3), percentStage(100)], gate: gate() });
        const paused = await rolloutWhen(t.rollouts, rollout!.id, isIn(RolloutState.PAUSED), "the rollout to pause");
        const canary = paused.stages[0]!;
        expect(canary.state).toBe(RolloutStageState.FAILED);
        expect(canary.agents).toEqual(fleet.uids.slice(0, 3));
        // The stage fails as soon as more than the threshold (0) failed: maybe before all three reported.
        expect(canary.failures.length).toBeGreaterThanOrEqual(1);
        for (const f of canary.failures) expect([canary.agents.includes(f.instanceUid), f.kind, f.detail]).toEqual([true, StageFailureKind.FAILED, "exporters: unknown type kafka"]);
        expect(paused.reason).toMatch(new RegExp(`^stage 1 failed: ${canary.failures.length} of 3 agents \\(${canary.failures.length} failed\\)$`));
        expect(paused.stages[1]!.state).toBe(RolloutStageState.PENDING);
        const others = fleet.uids.slice(3);
        for (const uid of others) expect(fleet.bodies(uid)).toEqual(["v1\n"]);

        const { rollout: rolling } = await t.rollouts.rollbackRollout({ id: rollout!.id, reason: "kafka is not in our build" });
        expect(rolling!.state).toBe(RolloutState.ROLLING_BACK);
        await rolloutWhen(t.rollouts, rollout!.id, isIn(RolloutState.ROLLED_BACK), "the rollback");
        for (const uid of canary.agents) await backOnV1(fleet, uid);
        for (const uid of others) expect(fleet.bodies(uid)).toEqual(["v1\n"]);
        const after = await eventually(async () => {
          const { group: g } = await t.groups.getGroup({ name: group });
          return g!.rolloutRunning ? undefined : g;
        }, 10_000, "the group released by its rollout");
        expect(after).toMatchObject({ configurationVersion: 1 });
        // The group is free for the next rollout.
        await expect(t.rollouts.preflight({ group, version: 2 })).resolves.toBeDefined();
      } finally {
        await fleet.close();
      }
    }, 300_000);

    it("with automatic rollback, a wave's failures give v1 back to exactly the agents that got v2 (canary and wave), and to no other", async () => {
      const t = topology();
      const { group, fleet } = await groupWithAgents(t, { prefix: "auto", count: size, urls: t.opampUrls.map((u) => u.wsUrl) });
      try {
        // The canary (the 2 first UIDs) applies; some agents of the wave fail.
        const failing = new Set(fleet.uids.slice(4, 8));
        fleet.setAnswer((uid, body) => (failing.has(uid) ? fails(body) : { applied: true }));
        const { rollout } = await t.rollouts.startRollout({
          group,
          toVersion: 2,
          stages: [agentsStage(2), percentStage(50), percentStage(100)],
          gate: gate({ maxFailedAgents: 1 }),
          onFailure: RolloutFailureAction.ROLLBACK,
        });
        const done = await rolloutWhen(t.rollouts, rollout!.id, isIn(RolloutState.ROLLED_BACK), "the automatic rollback", 90_000);
        expect(done.stages.map((s) => s.state)).toEqual([RolloutStageState.PASSED, RolloutStageState.FAILED, RolloutStageState.PENDING]);
        expect(done.reason).toContain("stage 2 failed");
        const moved = new Set([...done.stages[0]!.agents, ...done.stages[1]!.agents]);
        expect(moved.size).toBe(Math.ceil(size / 2));
        for (const uid of fleet.uids) {
          if (moved.has(uid)) await backOnV1(fleet, uid);
          else expect(fleet.bodies(uid), uid).toEqual(["v1\n"]);
        }
      } finally {
        await fleet.close();
      }
    }, 300_000);

    it("an agent that turns unhealthy while its stage bakes fails the stage", async () => {
      const t = topology();
      const { group, fleet } = await groupWithAgents(t, { prefix: "sick", count: 3 });
      try {
        const { rollout } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [agentsStage(1), percentStage(100)], gate: gate({ bakeMs: 60_000 }) });
        await rolloutWhen(t.rollouts, rollout!.id, (r) => r.stages[0]!.state === RolloutStageState.BAKING, "the canary baking");
        const canary = fleet.agent(fleet.uids[0]!);
        canary.send({ health: { healthy: false, lastError: "exporter otlp: connection refused" } as never });
        const paused = await rolloutWhen(t.rollouts, rollout!.id, isIn(RolloutState.PAUSED), "the rollout to pause");
        expect(paused.stages[0]!.failures).toEqual([expect.objectContaining({ instanceUid: fleet.uids[0], kind: StageFailureKind.UNHEALTHY, detail: "exporter otlp: connection refused" })]);
        await t.rollouts.abortRollout({ id: rollout!.id });
        await rolloutWhen(t.rollouts, rollout!.id, isIn(RolloutState.ABORTED), "the abort");
      } finally {
        await fleet.close();
      }
    });

    it("an agent that disconnects while its stage bakes fails the stage", async () => {
      const t = topology();
      const { group, fleet } = await groupWithAgents(t, { prefix: "gone", count: 3 });
      try {
        const { rollout } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [agentsStage(1), percentStage(100)], gate: gate({ bakeMs: 60_000 }) });
        await rolloutWhen(t.rollouts, rollout!.id, (r) => r.stages[0]!.state === RolloutStageState.BAKING, "the canary baking");
        await fleet.agent(fleet.uids[0]!).close();
        const paused = await rolloutWhen(t.rollouts, rollout!.id, isIn(RolloutState.PAUSED), "the rollout to pause");
        expect(paused.stages[0]!.failures).toEqual([expect.objectContaining({ instanceUid: fleet.uids[0], kind: StageFailureKind.DISCONNECTED })]);
        await t.rollouts.abortRollout({ id: rollout!.id });
      } finally {
        await fleet.close();
      }
    });
  });
}
