import { describe, expect, it } from "vitest";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "../opamp/started-topology.js";
import { configurationWith, groupFor, unique } from "../fleet/fleet-fixtures.js";
import { RolloutFleet } from "./rollout-fleet.js";
import { agentsStage, gate, percentStage } from "./rollout-fixtures.js";

/** Rollouts the server refuses, each with a Connect error naming the field. */
export function badInputBehaviour(topology: Topology): void {
  describe("a rollout refused", () => {
    it("on an empty group, to the version it runs, with stages that do not add up, a threshold outside 0–100 %, or while another runs", async () => {
      const t = topology();
      const service = unique("bad");
      const cfg = unique("cfg");
      const group = unique("grp");
      await configurationWith(t, cfg, ["v1\n", "v2\n"]);
      await t.groups.createGroup({ group: groupFor(group, service, cfg, 1) });
      const refused = (req: Parameters<typeof t.rollouts.startRollout>[0], code: number, text: string) =>
        expect(t.rollouts.startRollout(req)).rejects.toMatchObject({ code, rawMessage: expect.stringContaining(text) });

      await refused({ group, toVersion: 2 }, 9, "has no agents"); // FailedPrecondition
      const fleet = await RolloutFleet.connect([t.wsUrl], 2, service);
      try {
        await eventually(() => fleet.uids.every((u) => fleet.bodies(u).length === 1), 10_000, "every agent on v1");
        await refused({ group, toVersion: 1 }, 3, "to_version"); // InvalidArgument
        await refused({ group, toVersion: 7 }, 5, "to_version"); // NotFound
        await refused({ group, toVersion: 2, stages: [agentsStage(1), percentStage(50)] }, 3, "stages do not add up");
        await refused({ group, toVersion: 2, stages: [percentStage(60), percentStage(40), percentStage(100)] }, 3, "stages[1].percent");
        await refused({ group, toVersion: 2, stages: [percentStage(100)], gate: { threshold: { case: "maxFailedPercent", value: 120 } } }, 3, "gate.max_failed_percent");
        await refused({ group: unique("nogroup"), toVersion: 2 }, 5, "does not exist");

        const { rollout } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [percentStage(100)], gate: gate({ bakeMs: 60_000 }) });
        await refused({ group, toVersion: 2 }, 9, "one rollout per group");
        await expect(t.rollouts.resumeRollout({ id: rollout!.id })).rejects.toMatchObject({ code: 9, rawMessage: expect.stringContaining("only a paused rollout") });
        await expect(t.groups.updateGroup({ group: groupFor(group, service, cfg, 2) })).rejects.toMatchObject({ code: 9, rawMessage: expect.stringContaining("group.configuration_version") });
        await t.rollouts.abortRollout({ id: rollout!.id });
        // Started the moment the abort returns, before the driver has freed
        // the group (its next tick): an aborted rollout is not "under way".
        const { rollout: next } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [percentStage(100)], gate: gate({ bakeMs: 60_000 }) });
        expect(next!.id).not.toBe(rollout!.id);
        await t.rollouts.abortRollout({ id: next!.id });
      } finally {
        await fleet.close();
      }
    });
  });
}
