import { create } from "@bufbuild/protobuf";
import { CommandKind, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import {
  AgentCapabilities,
  CommandType,
  ServerCapabilities,
  ServerToAgentFlags,
  ServerToAgentSchema,
  ServerToAgentCommandSchema,
  AgentRemoteConfigSchema,
  ServerErrorResponseSchema,
  ServerErrorResponseType,
  type CustomCapabilities,
  type ServerToAgent,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { hashesEqual } from "./config-hash.js";
import { hasCapability, pendingCommands } from "./agent-model.js";
import { connectionSettingsToSend, packagesToSend } from "./offers.js";

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

export interface BuiltMessage {
  message: ServerToAgent;
  /** Commands this message carries; mark them delivered once it is handed over. */
  deliveredCommandIds: string[];
  /** False when the message carries nothing but identity and capabilities. */
  hasContent: boolean;
}

/**
 * fetchServerToAgent of the design, and the single source of truth for every
 * ServerToAgent: the reply to a report and a push both come from here, so the
 * two paths cannot drift apart.
 */
export function buildServerToAgent(
  agent: Agent,
  options: {
    requestFullState: boolean;
    /** What the server announces (see serverCapabilities); default SERVER_CAPABILITIES. */
    capabilities?: bigint;
    /** The server's heartbeat offer; 0 or unset: none. */
    heartbeatIntervalSeconds?: bigint;
    /** The custom capabilities the server declares (see serverCustomCapabilities); unset: none. */
    customCapabilities?: CustomCapabilities | undefined;
    /**
     * Whether the agent must be told them now: the spec has them sent only
     * when they change, so the report path asks for them on the first message
     * of a connection (a new agent, a reconnect, a restarted server) and when
     * the agent declares its own anew; pushes never do.
     */
    announceCustomCapabilities?: boolean;
  },
): BuiltMessage {
  const message = create(ServerToAgentSchema, {
    instanceUid: agent.metadata!.instanceUid,
    capabilities: options.capabilities ?? SERVER_CAPABILITIES,
  });
  // Like `capabilities` it is about the server, not an instruction: it may
  // ride along with a command or an error, and does not count as content.
  if (options.announceCustomCapabilities && options.customCapabilities) message.customCapabilities = options.customCapabilities;
  const delivered: string[] = [];
  let flags = 0n;
  if (options.requestFullState) flags |= BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState);

  const pending = pendingCommands(agent);

  // A ServerToAgent that carries a command must carry nothing else the agent
  // would act on (the spec tells agents to ignore the rest), so a restart goes
  // alone and everything else follows in the next message.
  const restart = pending.find((c) => c.kind === CommandKind.RESTART);
  if (restart && hasCapability(agent, AgentCapabilities.AgentCapabilities_AcceptsRestartCommand)) {
    message.command = create(ServerToAgentCommandSchema, { type: CommandType.CommandType_Restart });
    return { message, deliveredCommandIds: [restart.id], hasContent: true };
  }

  // A refused certificate request is answered with error_response
  // BAD_REQUEST, alone: over plain HTTP that reply is a 400, whose body
  // clients may discard, so nothing else may ride on it.
  const refusal = pending.find((c) => c.kind === CommandKind.CERTIFICATE_REFUSAL);
  if (refusal) {
    message.errorResponse = create(ServerErrorResponseSchema, { type: ServerErrorResponseType.ServerErrorResponseType_BadRequest, errorMessage: refusal.errorMessage });
    message.flags = flags;
    return { message, deliveredCommandIds: [refusal.id], hasContent: true };
  }

  // One custom message per ServerToAgent (the field is singular); the rest
  // follow in the next messages.
  const custom = pending.find((c) => c.kind === CommandKind.CUSTOM_MESSAGE && c.customMessage);
  if (custom) {
    message.customMessage = custom.customMessage;
    delivered.push(custom.id);
  }

  for (const c of pending) {
    if (c.kind === CommandKind.REPORT_FULL_STATE) {
      flags |= BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState);
      delivered.push(c.id);
    }
  }

  const data = agent.spec?.remoteConfig?.data;
  if (data?.config && hasCapability(agent, AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig)) {
    const reported = agent.status?.remoteConfigStatus?.lastRemoteConfigHash;
    // Never resend what the agent already reports having.
    if (!hashesEqual(reported, data.hash)) {
      message.remoteConfig = create(AgentRemoteConfigSchema, { config: data.config, configHash: data.hash });
    }
    for (const c of pending) {
      if (c.kind === CommandKind.REMOTE_CONFIG_UPDATED && hashesEqual(c.configHash, data.hash)) delivered.push(c.id);
    }
  }

  const settings = connectionSettingsToSend(agent, options.heartbeatIntervalSeconds ?? 0n);
  if (settings) {
    if (settings.offers) message.connectionSettings = settings.offers;
    delivered.push(...settings.commandIds);
  }
  const packages = packagesToSend(agent);
  if (packages) {
    message.packagesAvailable = packages.packages;
    delivered.push(...packages.commandIds);
  }

  const components = agent.status?.availableComponents;
  if (
    components &&
    components.hash.length > 0 &&
    Object.keys(components.components).length === 0 &&
    hasCapability(agent, AgentCapabilities.AgentCapabilities_ReportsAvailableComponents)
  ) {
    flags |= BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportAvailableComponents);
  }

  message.flags = flags;
  const hasContent =
    flags !== 0n ||
    message.remoteConfig !== undefined ||
    message.connectionSettings !== undefined ||
    message.packagesAvailable !== undefined ||
    message.customMessage !== undefined;
  return { message, deliveredCommandIds: delivered, hasContent };
}
