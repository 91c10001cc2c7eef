import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { RolloutState, type Rollout } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import type { TestTopology } from "../../support/topology.js";
import { eventually } from "../../support/eventually.js";

export const agentsStage = (n: number) => ({ size: { case: "agents" as const, value: n } });
export const percentStage = (n: number) => ({ size: { case: "percent" as const, value: n } });

/** A gate for tests: short bake, a timeout long enough for a loaded machine. */
export function gate(o: { bakeMs?: number; timeoutMs?: number; maxFailedAgents?: number } = {}) {
  return {
    bakeTime: durationFromMs(o.bakeMs ?? 300),
    stageTimeout: durationFromMs(o.timeoutMs ?? 30_000),
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
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last state ${last ? RolloutState[last.state] : "none"}: ${last?.reason ?? ""}`);
  }
}

export const isIn = (state: RolloutState) => (r: Rollout) => r.state === state;
