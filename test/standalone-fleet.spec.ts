import { fleetE2eSuite } from "./suites/fleet/index.js";
import { startTestServer } from "./support/standalone-server.js";

fleetE2eSuite(() => startTestServer());
