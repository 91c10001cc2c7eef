import { opampE2eSuite } from "./suites/opamp-e2e.js";
import { startTestServer } from "./support/standalone-server.js";

opampE2eSuite(() => startTestServer({ maxMessageBytes: 1024 * 1024, httpAgentTimeoutMs: 1_500, heartbeatTimeoutMs: 1_500, wsPingIntervalMs: 400 }));
