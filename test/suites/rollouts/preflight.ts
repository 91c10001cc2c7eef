import { RolloutState } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { describe, expect, it } from "vitest";
import type { Topology } from "../opamp/started-topology.js";
import { eventually } from "../../support/eventually.js";
import { RolloutFleet } from "./rollout-fleet.js";
import { gate, groupWithAgents, isIn, percentStage, rolloutWhen } from "./rollout-fixtures.js";

const V1 = "receivers: { otlp: {} }\nexporters: { debug: {} }\nservice: { pipelines: { traces: { receivers: [otlp], exporters: [debug] } } }\n";
const V2_KAFKA = "receivers: { otlp: {} }\nexporters: { kafka/eu: {} }\nservice: { pipelines: { traces: { receivers: [otlp], exporters: [kafka/eu] } } }\n";
const V3_BATCH = "receivers: { otlp: {} }\nprocessors: { batch: {} }\nexporters: { debug: {} }\nservice: { pipelines: { traces: { receivers: [otlp], processors: [batch], exporters: [debug] } } }\n";

/** Preflight: a version naming a component the agents lack is refused before anything is sent. */
export function preflightBehaviour(topology: Topology): void {
  describe("preflight", () => {
    it("refuses to start a rollout whose version names a component the agents do not report, naming the component and the agents; passes one they have", async () => {
      const t = topology();
      const components = { receivers: ["otlp"], processors: ["batch"], exporters: ["debug", "otlp"] };
      const { group, fleet } = await groupWithAgents(t, { prefix: "pre", count: 2, texts: [V1, V2_KAFKA, V3_BATCH], components });
      try {
        const { result } = await t.rollouts.preflight({ group, version: 2 });
        expect(result!.missing.map((m) => [m.instanceUid, m.missingComponents])).toEqual(fleet.uids.map((u) => [u, ["exporters/kafka"]]));
        expect(result!.passed).toEqual([]);

        const refused = t.rollouts.startRollout({ group, toVersion: 2, stages: [percentStage(100)], gate: gate() });
        await expect(refused).rejects.toMatchObject({ code: 9, rawMessage: expect.stringContaining("exporters/kafka") }); // FailedPrecondition
        await expect(refused).rejects.toMatchObject({ rawMessage: expect.stringContaining(fleet.uids[0]!) });
        const { rollouts } = await t.rollouts.listRollouts({ group });
        expect(rollouts).toEqual([]);
        for (const uid of fleet.uids) expect(fleet.bodies(uid)).toHaveLength(1);

        const ok = await t.rollouts.preflight({ group, version: 3 });
        expect(ok.result!.passed.sort()).toEqual(fleet.uids);
        const { rollout } = await t.rollouts.startRollout({ group, toVersion: 3, stages: [percentStage(100)], gate: gate({ bakeMs: 0 }) });
        await rolloutWhen(t.rollouts, rollout!.id, isIn(RolloutState.SUCCEEDED), "the rollout of a version they can run");
      } finally {
        await fleet.close();
      }
    });

    it("told to skip the agents that lack a component, leaves them on the version they run, through the rollout and after it", async () => {
      const t = topology();
      const { group, service, fleet } = await groupWithAgents(t, { prefix: "skip", count: 2, texts: [V1, V2_KAFKA], components: { receivers: ["otlp"], exporters: ["debug", "kafka"] } });
      const lacking = await RolloutFleet.connect([t.wsUrl], 1, service, { components: { receivers: ["otlp"], exporters: ["debug"] } });
      try {
        const [without] = lacking.uids;
        await eventually(() => lacking.bodies(without!).length > 0, 10_000, "the agent without kafka on v1");
        const { rollout, preflight } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [percentStage(100)], gate: gate({ bakeMs: 0 }), skipFailedAgents: true });
        expect(rollout!.skippedAgents).toEqual([without]);
        expect(preflight!.missing.map((m) => m.instanceUid)).toEqual([without]);
        const done = await rolloutWhen(t.rollouts, rollout!.id, isIn(RolloutState.SUCCEEDED), "the rollout without the skipped agent");
        expect(done.stages[0]!.agents.sort()).toEqual(fleet.uids);
        await eventually(async () => !(await t.groups.getGroup({ name: group })).group!.rolloutRunning, 10_000, "the group released");
        for (const uid of fleet.uids) await eventually(() => fleet.bodies(uid).at(-1) === V2_KAFKA, 10_000, `${uid} on v2`);
        expect(lacking.bodies(without!)).toEqual([V1]);
      } finally {
        await Promise.all([fleet.close(), lacking.close()]);
      }
    });

    it("agents that never reported their components are listed as unknown and do not stop the rollout; non-YAML versions skip the check and say so", async () => {
      const t = topology();
      const { group, configuration, fleet } = await groupWithAgents(t, { prefix: "unk", count: 2, texts: [V1, V2_KAFKA] });
      try {
        await t.configurations.createConfigurationVersion({ name: configuration, files: { "agent.json": { body: new TextEncoder().encode("{}"), contentType: "application/json" } }, message: "json" });
        const { result } = await t.rollouts.preflight({ group, version: 2 });
        expect(result).toMatchObject({ unknown: fleet.uids, missing: [], passed: [] });
        const json = await t.rollouts.preflight({ group, version: 3 });
        expect(json.result).toMatchObject({ componentCheckSkipped: true, reason: expect.stringContaining("no YAML file") });
        const started = await t.rollouts.startRollout({ group, toVersion: 2, stages: [percentStage(100)], gate: gate({ bakeMs: 0 }) });
        expect(started.preflight!.unknown).toEqual(fleet.uids);
        await rolloutWhen(t.rollouts, started.rollout!.id, isIn(RolloutState.SUCCEEDED), "the rollout");
      } finally {
        await fleet.close();
      }
    });
  });
}
