import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { RolloutStageState, RolloutState, type Rollout } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import type { TestTopology } from "../../support/topology.js";
import { eventually } from "../../support/eventually.js";
import { configurationWith, groupFor, unique } from "../fleet/fleet-fixtures.js";
import { RolloutFleet, type Answer, type Components } from "./rollout-fleet.js";

export const agentsStage = (n: number) => ({ size: { case: "agents" as const, value: n } });
export const percentStage = (n: number) => ({ size: { case: "percent" as const, value: n } });

/** A gate for tests: short bake, a timeout long enough for a loaded machine. */
export function gate(o: { bakeMs?: number; timeoutMs?: number; maxFailedAgents?: number } = {}) {
  return {
    bakeTime: durationFromMs(o.bakeMs ?? 300),
    stageTimeout: durationFromMs(o.timeoutMs ?? 60_000),
    ...(o.maxFailedAgents !== undefined ? { threshold: { case: "maxFailedAgents" as const, value: o.maxFailedAgents } } : {}),
  };
}

/** Polls the rollout until `done` holds for it; fails naming the state it was last in. */
export async function rolloutWhen(rollouts: TestTopology["rollouts"], id: string, done: (r: Rollout) => boolean, what: string, timeoutMs = 60_000): Promise<Rollout> {
  let last: Rollout | undefined;
  try {
    return await eventually(
      async () => {
        last = (await rollouts.getRollout({ id })).rollout!;
        return done(last) ? last : undefined;
      },
      timeoutMs,
      what,
      // GetRollout reads the store: polled every 25 ms through a minutes-long
      // rollout it was a third of FerretDB's operations in the 200-agent run.
      200,
    );
  } catch (err) {
    // Where it stood, to tell a stuck stage from a slow one: each stage's state and counts, the decision number and who made it.
    const stages = last?.stages.map((s, i) => `${i + 1} ${RolloutStageState[s.state]} ${s.agents.length} agents, ${s.applied} applied, ${s.pending} pending, ${s.failed} failed`).join("; ");
    throw new Error(`${(err as Error).message}; last state ${last ? RolloutState[last.state] : "none"}: ${last?.reason ?? ""} (decision ${last?.sequence ?? "-"} by ${last?.decidedBy ?? "-"}; stages: ${stages ?? "-"})`);
  }
}

export const isIn = (state: RolloutState) => (r: Rollout) => r.state === state;

/**
 * A fresh configuration (one version per text), a group on its version 1
 * selecting a fresh service name, and `count` simulated agents of that
 * service connected round-robin to `urls`, each already sent version 1.
 */
export async function groupWithAgents(
  t: TestTopology,
  o: { prefix: string; count: number; urls?: string[]; texts?: string[]; answer?: (uid: string, body: string) => Answer; components?: Components; heartbeatMs?: number },
): Promise<{ group: string; configuration: string; service: string; fleet: RolloutFleet }> {
  const service = unique(o.prefix);
  const configuration = unique("cfg");
  const group = unique("grp");
  await configurationWith(t, configuration, o.texts ?? ["v1\n", "v2\n"]);
  await t.groups.createGroup({ group: groupFor(group, service, configuration, 1) });
  const fleet = await RolloutFleet.connect(o.urls ?? [t.wsUrl], o.count, service, {
    ...(o.answer ? { answer: o.answer } : {}),
    ...(o.components ? { components: o.components } : {}),
    ...(o.heartbeatMs ? { heartbeatMs: o.heartbeatMs } : {}),
  });
  // FerretDB on a busy machine takes new agents at ~15 a second.
  await eventually(() => fleet.uids.every((u) => fleet.bodies(u).length > 0), 30_000 + o.count * 300, "every agent sent version 1");
  return { group, configuration, service, fleet };
}
