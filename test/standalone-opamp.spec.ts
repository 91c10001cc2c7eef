import { describe } from "vitest";
import { SERVER_CUSTOM_CAPABILITIES, csrAutoApprovalSuite, opampE2eSuite } from "./suites/opamp/index.js";
import { startTestServer } from "./support/standalone-server.js";

opampE2eSuite(() =>
  startTestServer({ maxMessageBytes: 1024 * 1024, heartbeatMissedIntervals: 2, defaultHeartbeatIntervalMs: 750, heartbeatIntervalSeconds: 2, wsPingIntervalMs: 400, csrApproval: "manual", customCapabilities: SERVER_CUSTOM_CAPABILITIES.join(",") }),
);
describe("with auto-approved CSRs", () => csrAutoApprovalSuite(() => startTestServer({ csrApproval: "auto" })));
