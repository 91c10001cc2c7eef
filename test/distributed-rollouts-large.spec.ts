import { afterAll, beforeAll, describe, it } from "vitest";
import { largeRolloutPasses } from "./suites/rollouts/large-rollout.js";
import { startDistributed, type Distributed } from "./support/distributed.js";

// The 200-agent run in the production topology: two agent-service
// replicas (gateway-a reports to the first, gateway-b to the second), NATS,
// FerretDB. Its own file, so the suite's other tests keep their 60 agents.
let d: Distributed;
beforeAll(async () => {
  d = await startDistributed({ agentServiceReplicas: 2 });
}, 180_000);
afterAll(async () => {
  await d?.close();
});

describe("a distributed rollout over 200 agents", () => {
  it("passes stage by stage with two replicas; every agent ends on the new version", async () => {
    await largeRolloutPasses(d, 200, () => [...d.agentServices, ...d.gateways].map((p) => ({ name: p.name, pid: p.pid! })));
  }, 420_000);
});
