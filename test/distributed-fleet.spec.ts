import { fleetE2eSuite } from "./suites/fleet/index.js";
import { startDistributed } from "./support/distributed.js";

// The same behaviour with two agent-service replicas: admin calls go to the
// first, gateway-b reports to the second, so a group change made on one
// replica must reach agents served by the other (group catalog revision
// check, NATS notices to the gateway holding each agent).
fleetE2eSuite(() => startDistributed({ agentServiceReplicas: 2 }));
