import { afterAll, beforeAll, describe, it } from "vitest";
import { largeRolloutPasses } from "./suites/rollouts/large-rollout.js";
import { startDistributed, type Distributed } from "./support/distributed.js";

// The 200-agent run in the production topology: two agent-service
// replicas (gateway-a reports to the first, gateway-b to the second), NATS,
// FerretDB. Its own file, so the suite's other tests keep their 60 agents.
//
// NOT in `npm test` yet (FLEETPLANE_LARGE_ROLLOUT=1 runs it): on this 2-core
// machine FerretDB (SQLite) is the bottleneck at 200 agents — SQLITE_BUSY,
// lease renewals over 3 s, and gateways whose renewal merely came late asking
// all their agents for full state (one write each) — and stage 1 timed out
// with 3 of 10 agents unreported. Issue 12 stays open on it.
const enabled = process.env.FLEETPLANE_LARGE_ROLLOUT === "1";
if (!enabled) console.warn("SKIPPED: the 200-agent distributed rollout (set FLEETPLANE_LARGE_ROLLOUT=1): FerretDB overloads at 200 agents here; issue 12 open");
let d: Distributed;
beforeAll(async () => {
  if (!enabled) return;
  // The leases of a production deployment (the gateways' --lease-seconds and
  // --rollout-lease-seconds defaults): no replica or gateway is killed here,
  // and the suites' 3 s leases, there to see one gone within seconds, expire
  // whenever FerretDB (SQLite) stalls 4.5 s on this 2-core machine — which
  // marks a whole gateway's agents disconnected mid-stage.
  d = await startDistributed({ agentServiceReplicas: 2, leaseSeconds: 30, rolloutLeaseSeconds: 15 });
}, 180_000);
afterAll(async () => {
  await d?.close();
});

describe.skipIf(!enabled)("a distributed rollout over 200 agents", () => {
  it("passes stage by stage with two replicas; every agent ends on the new version", async () => {
    await largeRolloutPasses(
      d,
      200,
      () => [...d.agentServices, ...d.gateways].map((p) => ({ name: p.name, pid: p.pid! })),
      d.agentServices.map((p) => p.url),
    );
  }, 420_000);
});
