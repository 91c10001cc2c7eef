import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  ServerCapabilities,
  ServerErrorResponseType,
  ServerToAgentFlags,
  ServerToAgentSchema,
  type ServerToAgent,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { retryAfterNanoseconds } from "./retry-after.js";

/**
 * What this server can do, announced in every ServerToAgent (the spec requires
 * it in the first one; repeating it costs two bytes and spares us tracking
 * which reply was first on which transport). Only what is implemented.
 */
export const SERVER_CAPABILITIES: bigint = BigInt(
  ServerCapabilities.ServerCapabilities_AcceptsStatus |
    ServerCapabilities.ServerCapabilities_OffersRemoteConfig |
    ServerCapabilities.ServerCapabilities_AcceptsEffectiveConfig |
    ServerCapabilities.ServerCapabilities_OffersPackages |
    ServerCapabilities.ServerCapabilities_AcceptsPackagesStatus |
    ServerCapabilities.ServerCapabilities_OffersConnectionSettings,
);

/** The capabilities to announce: the base set, plus CSR signing when a CA is configured. */
export function serverCapabilities(o: { signsCertificates: boolean }): bigint {
  return o.signsCertificates ? SERVER_CAPABILITIES | BigInt(ServerCapabilities.ServerCapabilities_AcceptsConnectionSettingsRequest) : SERVER_CAPABILITIES;
}

/** The fields of a ServerToAgent besides the two every message carries. */
export type ServerToAgentBody = Omit<MessageInitShape<typeof ServerToAgentSchema>, "instanceUid" | "capabilities" | "$typeName">;

/**
 * The only place a ServerToAgent is created. Every message — a reply to a
 * report, a push, an error, a new instance UID, a full-state request — names
 * the agent and announces the server's capabilities, so no path can forget
 * either. What goes into the body is decided by the callers below and by
 * agent-service's reply builder (agents/server-to-agent-builder.ts).
 */
export function serverToAgent(instanceUid: Uint8Array, capabilities: bigint, body: ServerToAgentBody = {}): ServerToAgent {
  // Most messages are the answer to a heartbeat: identity, capabilities and
  // at most flags. create() with an init object walks every field of the
  // schema (~8 µs, 15 % of a heartbeat's CPU in steady state); the empty
  // message with the scalars set directly costs a tenth of that
  // (docs/performance.md §9). Anything with a nested message goes through
  // create()'s init, which makes those messages from their init shapes.
  if (scalarsOnly(body)) {
    const message = create(ServerToAgentSchema);
    message.instanceUid = instanceUid;
    message.capabilities = capabilities;
    if (body.flags !== undefined) message.flags = BigInt(body.flags);
    return message;
  }
  return create(ServerToAgentSchema, { ...body, instanceUid, capabilities });
}

function scalarsOnly(body: ServerToAgentBody): boolean {
  for (const key in body) if (key !== "flags" && body[key as keyof ServerToAgentBody] !== undefined) return false;
  return true;
}

/**
 * Whether a ServerToAgent says nothing besides who it is for and what the
 * server can do: the answer to a heartbeat, which the WebSocket transport
 * sends from bytes it encoded once per connection.
 */
export function isAcknowledgement(message: ServerToAgent): boolean {
  return (
    message.flags === 0n &&
    message.errorResponse === undefined &&
    message.remoteConfig === undefined &&
    message.connectionSettings === undefined &&
    message.packagesAvailable === undefined &&
    message.agentIdentification === undefined &&
    message.command === undefined &&
    message.customCapabilities === undefined &&
    message.customMessage === undefined
  );
}

/**
 * An error_response. `retryAfterMs` adds RetryInfo (the spec's hint for
 * UNAVAILABLE); the plain-HTTP transport turns it into a Retry-After header.
 */
export function errorReply(instanceUid: Uint8Array, capabilities: bigint, type: ServerErrorResponseType, errorMessage: string, retryAfterMs?: number): ServerToAgent {
  return serverToAgent(instanceUid, capabilities, {
    errorResponse: {
      type,
      errorMessage,
      ...(retryAfterMs !== undefined ? { Details: { case: "retryInfo", value: { retryAfterNanoseconds: retryAfterNanoseconds(retryAfterMs) } } } : {}),
    },
  });
}

/** Tells an agent to use a new instance UID, and to report everything again under it. */
export function newInstanceUidReply(instanceUid: Uint8Array, capabilities: bigint, newInstanceUid: Uint8Array): ServerToAgent {
  return serverToAgent(instanceUid, capabilities, {
    agentIdentification: { newInstanceUid },
    flags: BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState),
  });
}

/** Asks an agent to report its full state (e.g. after a gateway's lease lapsed and agent-service may have forgotten it). */
export function reportFullStateRequest(instanceUid: Uint8Array, capabilities: bigint): ServerToAgent {
  return serverToAgent(instanceUid, capabilities, { flags: BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState) });
}
