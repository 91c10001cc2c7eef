import { afterAll, beforeAll, describe, it } from "vitest";
import { largeRolloutPasses } from "./suites/rollouts/large-rollout.js";
import { startDistributed, type Distributed } from "./support/distributed.js";

// The 200-agent run in the production topology: two agent-service
// replicas (gateway-a reports to the first, gateway-b to the second), NATS,
// FerretDB. Its own file, so the suite's other tests keep their 60 agents.
// About 2 minutes here (3 runs in a row: 108–122 s), of which the rollout
// takes 44–57 s: FerretDB (SQLite) is the bottleneck on this 2-core machine,
// with stalls of 10–25 s seen under the agents' writes.
let d: Distributed;
beforeAll(async () => {
  // The leases of a production deployment (the gateways' --lease-seconds and
  // --rollout-lease-seconds defaults): no replica or gateway is killed here,
  // and the suites' 3 s leases, there to see one gone within seconds, expire
  // whenever FerretDB stalls 4.5 s — which marks a whole gateway's agents
  // disconnected mid-stage and fails it.
  d = await startDistributed({ agentServiceReplicas: 2, leaseSeconds: 30, rolloutLeaseSeconds: 15 });
}, 180_000);
afterAll(async () => {
  await d?.close();
});

describe("a distributed rollout over 200 agents", () => {
  it("passes stage by stage with two replicas; every agent ends on the new version", async () => {
    await largeRolloutPasses(
      d,
      200,
      () => [...d.agentServices, ...d.gateways].map((p) => ({ name: p.name, pid: p.pid! })),
      d.agentServices.map((p) => p.url),
      { withinMs: 400_000, logs: () => [...d.agentServices, ...d.gateways].map((p) => `--- ${p.name}, its last lines:\n${p.log()}`).join("\n") },
    );
  }, 420_000);
});
