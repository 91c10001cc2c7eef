import { describe } from "vitest";
import { SERVER_CUSTOM_CAPABILITIES, csrAutoApprovalSuite, opampE2eSuite } from "./suites/opamp/index.js";
import { startDistributed } from "./support/distributed.js";

// The standalone e2e suite, unchanged, against two gateways, agent-service,
// command-service, NATS and FerretDB in separate processes: every admin call
// lands on agent-service, never on the gateway holding the agent's socket.
opampE2eSuite(() =>
  startDistributed({ maxMessageBytes: 1024 * 1024, heartbeatMissedIntervals: 2, defaultHeartbeatIntervalMs: 750, heartbeatIntervalSeconds: 2, wsPingIntervalMs: 400, csrApproval: "manual", customCapabilities: SERVER_CUSTOM_CAPABILITIES.join(",") }),
);
describe("with auto-approved CSRs", () => csrAutoApprovalSuite(() => startDistributed({ csrApproval: "auto" })));
