import type { TestTopology } from "../../support/topology.js";
import { badInputBehaviour } from "./bad-input.js";
import { certificateRequestsBehaviour } from "./certificate-requests.js";
import { commandsBehaviour } from "./commands.js";
import { connectionLivenessBehaviour } from "./connection-liveness.js";
import { customMessagesBehaviour } from "./custom-messages.js";
import { heartbeatOffersBehaviour } from "./heartbeat-offers.js";
import { httpPollingBehaviour } from "./http-polling.js";
import { instanceUidBehaviour } from "./instance-uid.js";
import { offersBehaviour } from "./offers.js";
import { packageRegistryBehaviour } from "./package-registry.js";
import { remoteConfigBehaviour } from "./remote-config.js";
import { reportingBehaviour } from "./reporting.js";
import { startOnce } from "./started-topology.js";

export { csrAutoApprovalSuite } from "./csr-auto-approval.js";
export { SERVER_CUSTOM_CAPABILITIES } from "./custom-messages.js";

/**
 * The OpAMP behaviour every topology must show, written once: the standalone
 * process and the distributed one (gateways, services, NATS, MongoDB-wire)
 * both run it unchanged. `start` must give a server whose gateway limits
 * messages to 1 MiB, marks agents disconnected after 2 missed heartbeat
 * intervals (0.75 s when the server gave the agent none: silent agents are
 * gone after 1.5 s), offers a 2 s heartbeat interval, pings WebSockets every
 * 0.4 s, declares SERVER_CUSTOM_CAPABILITIES, and signs agents' CSRs with a CA
 * under manual approval.
 */
export function opampE2eSuite(start: () => Promise<TestTopology>): void {
  const topology = startOnce(start);
  reportingBehaviour(topology);
  remoteConfigBehaviour(topology);
  commandsBehaviour(topology);
  connectionLivenessBehaviour(topology);
  instanceUidBehaviour(topology);
  heartbeatOffersBehaviour(topology);
  offersBehaviour(topology);
  packageRegistryBehaviour(topology);
  certificateRequestsBehaviour(topology);
  customMessagesBehaviour(topology);
  httpPollingBehaviour(topology);
  badInputBehaviour(topology);
}
