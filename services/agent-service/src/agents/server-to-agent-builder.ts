import { CommandKind, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import {
  AgentCapabilities,
  CommandType,
  ServerToAgentFlags,
  ServerErrorResponseType,
  type CustomCapabilities,
  type ServerToAgent,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { SERVER_CAPABILITIES, serverToAgent, type ServerToAgentBody } from "@fleetplane/opamp";
import { hashesEqual } from "./config-hash.js";
import { hasCapability, pendingCommands } from "./agent-model.js";
import type { HeartbeatOffer } from "./heartbeat-offer.js";
import { connectionSettingsToSend, packagesToSend } from "./offers.js";

export interface BuiltMessage {
  message: ServerToAgent;
  /** Commands this message carries; mark them delivered once it is handed over. */
  deliveredCommandIds: string[];
  /** False when the message carries nothing but identity and capabilities. */
  hasContent: boolean;
}

/**
 * fetchServerToAgent of the design: what an agent is told, decided from the
 * agent alone. The reply to a report and a push both come from here, so the
 * two paths cannot drift apart; the message itself is made by
 * @fleetplane/opamp's serverToAgent, like every other ServerToAgent.
 */
export function buildServerToAgent(
  agent: Agent,
  options: {
    requestFullState: boolean;
    /** What the server announces (see serverCapabilities); default SERVER_CAPABILITIES. */
    capabilities?: bigint;
    /**
     * The server's heartbeat offer to this agent, worked out once for the
     * message being answered (see heartbeatOffer); unset: the server offers
     * no interval.
     */
    heartbeat?: HeartbeatOffer;
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
  const instanceUid = agent.metadata!.instanceUid;
  const capabilities = options.capabilities ?? SERVER_CAPABILITIES;
  const body: ServerToAgentBody = {};
  // Like `capabilities` it is about the server, not an instruction: it may
  // ride along with a command or an error, and does not count as content.
  if (options.announceCustomCapabilities && options.customCapabilities) body.customCapabilities = options.customCapabilities;
  const delivered: string[] = [];
  let flags = 0n;
  if (options.requestFullState) flags |= BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState);

  const pending = pendingCommands(agent);

  // A ServerToAgent that carries a command must carry nothing else the agent
  // would act on (the spec tells agents to ignore the rest), so a restart goes
  // alone and everything else follows in the next message.
  const restart = pending.find((c) => c.kind === CommandKind.RESTART);
  if (restart && hasCapability(agent, AgentCapabilities.AgentCapabilities_AcceptsRestartCommand)) {
    body.command = { type: CommandType.CommandType_Restart };
    return { message: serverToAgent(instanceUid, capabilities, body), deliveredCommandIds: [restart.id], hasContent: true };
  }

  // A refused certificate request is answered with error_response
  // BAD_REQUEST, alone: over plain HTTP that reply is a 400, whose body
  // clients may discard, so nothing else may ride on it.
  const refusal = pending.find((c) => c.kind === CommandKind.CERTIFICATE_REFUSAL);
  if (refusal) {
    body.errorResponse = { type: ServerErrorResponseType.ServerErrorResponseType_BadRequest, errorMessage: refusal.errorMessage };
    body.flags = flags;
    return { message: serverToAgent(instanceUid, capabilities, body), deliveredCommandIds: [refusal.id], hasContent: true };
  }

  // One custom message per ServerToAgent (the field is singular); the rest
  // follow in the next messages.
  const custom = pending.find((c) => c.kind === CommandKind.CUSTOM_MESSAGE && c.customMessage);
  if (custom) {
    body.customMessage = custom.customMessage;
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
    if (!hashesEqual(reported, data.hash)) body.remoteConfig = { config: data.config, configHash: data.hash };
    for (const c of pending) {
      if (c.kind === CommandKind.REMOTE_CONFIG_UPDATED && hashesEqual(c.configHash, data.hash)) delivered.push(c.id);
    }
  }

  const settings = connectionSettingsToSend(agent, options.heartbeat);
  if (settings) {
    if (settings.offers) body.connectionSettings = settings.offers;
    delivered.push(...settings.commandIds);
  }
  const packages = packagesToSend(agent);
  if (packages) {
    body.packagesAvailable = packages.packages;
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

  body.flags = flags;
  const hasContent =
    flags !== 0n ||
    body.remoteConfig !== undefined ||
    body.connectionSettings !== undefined ||
    body.packagesAvailable !== undefined ||
    body.customMessage !== undefined;
  return { message: serverToAgent(instanceUid, capabilities, body), deliveredCommandIds: delivered, hasContent };
}
