// @fleetplane/platform: the ports and pure rules every service shares. It
// loads nothing but Node's builtins, so domain code that uses it (the push bus
// port, the logger port, paging) drags in no database, bus or telemetry
// driver; the Node adapters for these ports are in @fleetplane/platform-node.
export type { PushBus, PushNotice, PushSubscription } from "./push-bus.js";
export { assertGatewayId } from "./gateway-id.js";
export { silentLogger, type Logger, type LogMethod } from "./logger.js";
export { DependencyUnavailableError, asError } from "./dependency-errors.js";
export { INSTANCE_UID_BYTES, InvalidInstanceUidError, instanceUidToHex, parseInstanceUid, agentLogName, isValidInstanceUid } from "./instance-uid.js";
export { uuidv7Bytes } from "./uuidv7.js";
export { bytesEqual } from "./bytes-equal.js";
export { ownBytes } from "./owned-bytes.js";
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, pageLimit, fetchLimit, toPage } from "./paging.js";
export { runBounded } from "./bounded-workers.js";
export { UsageError, envName, parseOptions, formatHelp, type OptionSpec, type OptionValues } from "./cli-options.js";
export { isLoopbackAddress } from "./loopback.js";
export { certificateSerial } from "./certificate-serial.js";
export { LogRateLimit } from "./log-rate-limit.js";
