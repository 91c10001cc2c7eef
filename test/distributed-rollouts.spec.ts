import { describe, expect, it } from "vitest";
import { rolloutsE2eSuite } from "./suites/rollouts/index.js";
import { interruptedRolloutFinishes } from "./suites/rollouts/interrupted.js";
import { startDistributed } from "./support/distributed.js";

// Two agent-service replicas: admin calls go to the first, gateway-b reports
// to the second; whichever holds a rollout's lease drives it.
// 60 agents here, so the suite's many rollouts stay short on this 2-core
// machine (FerretDB takes ~15 new agents a second); the 200-agent run is
// test/distributed-rollouts-large.spec.ts.
rolloutsE2eSuite(() => startDistributed({ agentServiceReplicas: 2 }), { size: 60 });

describe("a distributed rollout whose leading replica is killed", () => {
  it("is taken over by the other replica and finished, with the stages already decided unchanged", async () => {
    // The agents are connected through the gateway of replica 0, which
    // usually leads: killed, its agents move to the other gateway. A bake the
    // new leader starts before they moved is failed by their disconnects, as
    // the gate must; so the lease is long enough (taken over 17–23 s after the
    // kill) for 20 agents to move first, and `moved` says so if they did not.
    const d = await startDistributed({ agentServiceReplicas: 2, rolloutLeaseSeconds: 15 });
    try {
      await interruptedRolloutFinishes(d, 20, async (id) => {
        const { rollout } = await d.rollouts.getRollout({ id });
        // decided_by names the leader: "agent-service-<pid>-<random>".
        const leader = d.agentServices.findIndex((p) => rollout!.decidedBy.startsWith(`agent-service-${p.pid}-`));
        expect(leader).toBeGreaterThanOrEqual(0);
        await d.agentServices[leader]!.stop("SIGKILL");
        const survivor = 1 - leader;
        // Gateway a reports to replica 0, gateway b to replica 1.
        const rollouts = d.rolloutsOn(survivor);
        const moved = async () => {
          const now = await rollouts.getRollout({ id });
          expect(now.rollout!.decidedBy, "the rollout was taken over before the agents had moved; the test's lease is too short for this machine").toBe(rollout!.decidedBy);
        };
        return { rollouts, wsUrl: d.wsUrlOf(survivor), moved };
      });
    } finally {
      await d.close();
    }
  }, 240_000);
});
