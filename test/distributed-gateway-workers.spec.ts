import { SERVER_CUSTOM_CAPABILITIES, opampE2eSuite } from "./suites/opamp/index.js";
import { startDistributed } from "./support/distributed.js";

// The e2e suite, unchanged, against the distributed topology whose first
// gateway runs on two worker processes (`fleetplane gateway --workers 2`):
// each worker is a gateway of its own to agent-service and on the bus, the
// kernel spreads agents over them, and everything an agent sees and every
// admin call's effect must be the same as with one process.
opampE2eSuite(() =>
  startDistributed({
    gatewayWorkers: 2,
    maxMessageBytes: 1024 * 1024,
    heartbeatMissedIntervals: 2,
    defaultHeartbeatIntervalMs: 750,
    heartbeatIntervalSeconds: 2,
    wsPingIntervalMs: 400,
    csrApproval: "manual",
    customCapabilities: SERVER_CUSTOM_CAPABILITIES.join(","),
  }),
);
