import { describe } from "vitest";
import { csrAutoApprovalSuite, opampE2eSuite } from "./suites/opamp-e2e.js";
import { startTestServer } from "./support/standalone-server.js";

opampE2eSuite(() => startTestServer({ maxMessageBytes: 1024 * 1024, httpAgentTimeoutMs: 1_500, heartbeatTimeoutMs: 1_500, csrApproval: "manual" }));
describe("with auto-approved CSRs", () => csrAutoApprovalSuite(() => startTestServer({ csrApproval: "auto" })));
