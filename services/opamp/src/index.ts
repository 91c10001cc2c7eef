// @fleetplane/opamp: the OpAMP protocol rules that the gateway and
// agent-service share, each in one place.
export { SERVER_CAPABILITIES, serverCapabilities, serverToAgent, isAcknowledgement, errorReply, newInstanceUidReply, reportFullStateRequest, type ServerToAgentBody } from "./server-to-agent.js";
export { isHeartbeat } from "./heartbeat-message.js";
export { decodeHeartbeat } from "./heartbeat-decoding.js";
export { INSTANCE_UID_BYTES, instanceUidProblem } from "./instance-uid-rule.js";
export { OutboundMessageTooLargeError, checkOutboundSize } from "./message-limits.js";
export { retryAfterNanoseconds, retryAfterHeader, retryAfterHeaderFromNanoseconds } from "./retry-after.js";
