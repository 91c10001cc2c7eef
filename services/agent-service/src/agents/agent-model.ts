import { create } from "@bufbuild/protobuf";
import { timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  AgentCommandSchema,
  AgentSchema,
  CommandKind,
  RemoteConfigDataSchema,
  RemoteConfigSchema,
  RemoteConfigState,
  type Agent,
  type AgentCommand,
  type Connection,
} from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import {
  AgentCapabilities,
  AgentToServerFlags,
  RemoteConfigStatuses,
  type AgentConfigMap,
  type AgentToServer,
  type CustomMessage,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { computeConfigHash, hashesEqual } from "./config-hash.js";

/**
 * The Agent aggregate: pure functions over the stored Agent message. Nothing
 * here knows about sockets, databases or buses; callers pass the time.
 */

/** Delivered commands kept on the agent for the console's recent history. */
export const DELIVERED_COMMANDS_KEPT = 20;

export function newAgent(instanceUid: Uint8Array, now: number): Agent {
  return create(AgentSchema, {
    metadata: { instanceUid, createdAt: timestampFromMs(now) },
    spec: {},
    status: {},
    revision: 0n,
  });
}

export function hasCapability(agent: Agent, capability: AgentCapabilities): boolean {
  return ((agent.metadata?.capabilities ?? 0n) & BigInt(capability)) !== 0n;
}

export function pendingCommands(agent: Agent): AgentCommand[] {
  return agent.commands.filter((c) => c.deliveredAt === undefined);
}

/** What a change to the agent means for the audit trail. */
export interface CommandTransition {
  commandId: string;
  to: "delivered" | "applied" | "failed" | "superseded";
  detail: string;
  /**
   * A delivered remote config: the agent's report of it (applied or failed)
   * is expected to follow moments later, and ends the trail the same
   * (connect-command-audit.ts holds the move for it).
   */
  awaitsReport?: boolean;
}

/**
 * ApplyRemoteConfig of the design: stores the desired configuration with its
 * hash and queues a RemoteConfigUpdated command carrying that hash. A command
 * for an older config that was never delivered is superseded, not sent.
 */
export function applyRemoteConfig(
  agent: Agent,
  config: AgentConfigMap,
  options: { commandId: string; requestedBy: string; now: number },
): { command: AgentCommand; transitions: CommandTransition[] } {
  const hash = computeConfigHash(config);
  const at = timestampFromMs(options.now);
  agent.spec ??= {} as NonNullable<Agent["spec"]>;
  agent.spec.remoteConfig = create(RemoteConfigSchema, {
    data: create(RemoteConfigDataSchema, {
      config,
      hash,
      status: RemoteConfigState.UNSET,
      updatedAt: at,
      updatedBy: options.requestedBy,
    }),
    lastErrorMessage: "",
  });
  // If the agent already runs exactly this config, say so right away.
  if (hashesEqual(agent.status?.remoteConfigStatus?.lastRemoteConfigHash, hash)) {
    agent.spec.remoteConfig.data!.status = stateFromReported(agent.status!.remoteConfigStatus!.status);
  }
  return queuePayloadCommand(agent, CommandKind.REMOTE_CONFIG_UPDATED, options, hash, "a newer remote config was assigned before delivery");
}

/**
 * Queues a command that announces new desired state identified by `hash`. An
 * undelivered command of the same kind is for older state: it is superseded,
 * not sent.
 */
export function queuePayloadCommand(
  agent: Agent,
  kind: CommandKind,
  options: { commandId: string; requestedBy: string; now: number },
  hash: Uint8Array,
  supersededBecause: string,
): { command: AgentCommand; transitions: CommandTransition[] } {
  const transitions = supersedeUndelivered(agent, kind, supersededBecause);
  const command = queue(agent, kind, options, hash);
  return { command, transitions };
}

/** Removes the undelivered commands of `kind` (what they announced is no longer desired); their transitions to superseded. */
export function supersedeUndelivered(agent: Agent, kind: CommandKind, because: string): CommandTransition[] {
  const transitions: CommandTransition[] = [];
  agent.commands = agent.commands.filter((c) => {
    const stale = c.kind === kind && c.deliveredAt === undefined;
    if (stale) transitions.push({ commandId: c.id, to: "superseded", detail: because });
    return !stale;
  });
  return transitions;
}

/** Queues a custom message for delivery; the agent must have declared its capability. */
export function queueCustomMessage(
  agent: Agent,
  message: CustomMessage,
  options: { commandId: string; requestedBy: string; now: number },
): AgentCommand {
  const command = queue(agent, CommandKind.CUSTOM_MESSAGE, options, new Uint8Array());
  command.customMessage = message;
  return command;
}

/**
 * Queues the answer to a refused or denied certificate signing request: the
 * spec has the server answer with error_response BAD_REQUEST, sent once.
 */
export function queueCertificateRefusal(
  agent: Agent,
  reason: string,
  options: { commandId: string; requestedBy: string; now: number },
): AgentCommand {
  const command = queue(agent, CommandKind.CERTIFICATE_REFUSAL, options, new Uint8Array());
  command.errorMessage = reason;
  return command;
}

/** Whether the agent declared a custom capability (custom messages need it). */
export function hasCustomCapability(agent: Agent, capability: string): boolean {
  return agent.metadata?.customCapabilities?.capabilities.includes(capability) ?? false;
}

/** Queues a command that has no payload (restart, report full state). */
export function queueCommand(
  agent: Agent,
  kind: CommandKind,
  options: { commandId: string; requestedBy: string; now: number },
): AgentCommand {
  return queue(agent, kind, options, new Uint8Array());
}

function queue(
  agent: Agent,
  kind: CommandKind,
  options: { commandId: string; requestedBy: string; now: number },
  configHash: Uint8Array,
): AgentCommand {
  const command = create(AgentCommandSchema, {
    id: options.commandId,
    kind,
    configHash,
    createdAt: timestampFromMs(options.now),
    requestedBy: options.requestedBy,
  });
  agent.commands.push(command);
  return command;
}

export function markDelivered(agent: Agent, commandIds: readonly string[], now: number): void {
  if (commandIds.length === 0) return;
  const at = timestampFromMs(now);
  for (const c of agent.commands) if (commandIds.includes(c.id)) c.deliveredAt = at;
  // Keep every pending command and only the most recent delivered ones.
  const delivered = agent.commands.filter((c) => c.deliveredAt !== undefined);
  if (delivered.length > DELIVERED_COMMANDS_KEPT) {
    const drop = new Set(delivered.slice(0, delivered.length - DELIVERED_COMMANDS_KEPT));
    agent.commands = agent.commands.filter((c) => !drop.has(c));
  }
}

function stateFromReported(status: RemoteConfigStatuses): RemoteConfigState {
  switch (status) {
    case RemoteConfigStatuses.RemoteConfigStatuses_APPLIED:
      return RemoteConfigState.APPLIED;
    case RemoteConfigStatuses.RemoteConfigStatuses_APPLYING:
      return RemoteConfigState.APPLYING;
    case RemoteConfigStatuses.RemoteConfigStatuses_FAILED:
      return RemoteConfigState.FAILED;
    default:
      return RemoteConfigState.UNSET;
  }
}

export interface ReportOutcome {
  /** Something beyond liveness (sequence number, last seen) changed. */
  changed: boolean;
  /** The agent must be asked for its full state (unknown agent or missed messages). */
  needsFullState: boolean;
  /** The agent said goodbye (agent_disconnect). */
  disconnected: boolean;
  /** The reply should declare the server's custom capabilities: first message of a connection, or the agent declared its own. */
  announceCustomCapabilities: boolean;
  /** Audit updates caused by the agent's remote config report. */
  transitions: CommandTransition[];
}

/**
 * The heartbeats the agent's gateway answered itself on `connection` just
 * before `msg` (ReportMessageRequest.heartbeats_answered) count as received:
 * the sequence number moves past them. Only when they line up exactly — the
 * agent connected on that connection, and `count` of them ending right
 * before `msg` — otherwise nothing moves, and report() sees the gap as it
 * would have seen it among them (and asks for the agent's full state).
 */
export function takeAnsweredHeartbeats(agent: Agent, connection: Connection, msg: AgentToServer, count: bigint): void {
  const status = agent.status;
  if (count <= 0n || !status?.connected || status.connectionId !== connection.id) return;
  if (status.sequenceNum + count + 1n === msg.sequenceNum) status.sequenceNum += count;
}

/**
 * report() of the design: applies every field of one AgentToServer message to
 * the agent. `known` is false when the agent was just created for this message.
 */
export function report(
  agent: Agent,
  msg: AgentToServer,
  connection: Connection,
  options: { now: number; known: boolean },
): ReportOutcome {
  const outcome: ReportOutcome = { changed: !options.known, needsFullState: false, disconnected: false, announceCustomCapabilities: false, transitions: [] };
  const meta = (agent.metadata ??= {} as NonNullable<Agent["metadata"]>);
  const status = (agent.status ??= {} as NonNullable<Agent["status"]>);
  const at = timestampFromMs(options.now);

  // Sequence numbers let us notice lost messages: anything but "previous + 1"
  // on a known agent means we may have missed state (spec: ReportFullState).
  const firstOnConnection = status.connectionId !== connection.id || !status.connected;
  outcome.announceCustomCapabilities = firstOnConnection || msg.customCapabilities !== undefined;
  if (!options.known) {
    outcome.needsFullState = msg.agentDescription === undefined;
  } else if (msg.sequenceNum !== status.sequenceNum + 1n && !(firstOnConnection && msg.sequenceNum === 0n && msg.agentDescription)) {
    outcome.needsFullState = true;
  }
  status.sequenceNum = msg.sequenceNum;
  status.lastSeenAt = at;

  if (firstOnConnection) {
    status.connected = true;
    status.connectionId = connection.id;
    status.connectionType = connection.type;
    status.gatewayId = connection.gatewayId;
    status.gatewayEpoch = connection.gatewayEpoch;
    status.connectedAt = at;
    status.opampEndpoint = connection.endpoint;
    outcome.changed = true;
  }
  if (msg.capabilities !== meta.capabilities) {
    meta.capabilities = msg.capabilities;
    outcome.changed = true;
  }
  if (msg.agentDescription) {
    meta.description = msg.agentDescription;
    outcome.changed = true;
  }
  if (msg.customCapabilities) {
    meta.customCapabilities = msg.customCapabilities;
    outcome.changed = true;
  }
  if (msg.health) {
    status.health = msg.health;
    outcome.changed = true;
  }
  if (msg.effectiveConfig) {
    status.effectiveConfig = msg.effectiveConfig;
    outcome.changed = true;
  }
  if (msg.packageStatuses) {
    status.packageStatuses = msg.packageStatuses;
    outcome.changed = true;
  }
  if (msg.availableComponents) {
    // An agent sends only the hash until asked for the full map; keep the map
    // we have when the hash did not change.
    const known = status.availableComponents;
    const sameHash = known && hashesEqual(known.hash, msg.availableComponents.hash);
    if (!sameHash || Object.keys(msg.availableComponents.components).length > 0) {
      status.availableComponents = msg.availableComponents;
      outcome.changed = true;
    }
  }
  if (msg.connectionSettingsStatus) {
    status.connectionSettingsStatus = msg.connectionSettingsStatus;
    outcome.changed = true;
  }
  if (msg.connectionSettingsRequest) {
    status.connectionSettingsRequest = msg.connectionSettingsRequest;
    outcome.changed = true;
  }
  if (msg.customMessage) {
    status.lastCustomMessage = msg.customMessage;
    outcome.changed = true;
  }
  if (msg.remoteConfigStatus) {
    status.remoteConfigStatus = msg.remoteConfigStatus;
    outcome.changed = true;
    outcome.transitions.push(...applyConfigReport(agent, msg.remoteConfigStatus.status, msg.remoteConfigStatus.lastRemoteConfigHash, msg.remoteConfigStatus.errorMessage, at));
  }
  if (msg.agentDisconnect) {
    status.connected = false;
    status.disconnectedAt = at;
    outcome.disconnected = true;
    outcome.changed = true;
  }
  return outcome;
}

/** Moves the desired config's status along what the agent reported for the same hash. */
function applyConfigReport(agent: Agent, reported: RemoteConfigStatuses, hash: Uint8Array, error: string, at: Timestamp): CommandTransition[] {
  const rc = agent.spec?.remoteConfig;
  const data = rc?.data;
  if (!rc || !data || !hashesEqual(data.hash, hash)) return [];
  const next = stateFromReported(reported);
  if (next === data.status) return [];
  data.status = next;
  if (next === RemoteConfigState.FAILED) rc.lastErrorMessage = error;
  if (next === RemoteConfigState.APPLIED) rc.lastErrorMessage = "";
  if (next !== RemoteConfigState.APPLIED && next !== RemoteConfigState.FAILED) return [];
  const configs = agent.commands.filter((c) => c.kind === CommandKind.REMOTE_CONFIG_UPDATED);
  // An older config delivered before this one never gets a report of its
  // own: the agent moved on to this one. Settled here, or its record would
  // stay DELIVERED forever. One settled already (applied, or superseded by
  // an earlier report) is left alone: each rollout would otherwise send the
  // audit a transition it ignores for every agent, for each older config kept.
  const older = configs.filter((c) => c.deliveredAt !== undefined && c.settledAt === undefined && !hashesEqual(c.configHash, hash));
  const replaced = older.map((c) => ({ commandId: c.id, to: "superseded" as const, detail: "a newer remote config reached the agent" }));
  const current = configs.filter((c) => hashesEqual(c.configHash, hash));
  const settled = current.map((c) => ({
    commandId: c.id,
    to: next === RemoteConfigState.APPLIED ? ("applied" as const) : ("failed" as const),
    detail: next === RemoteConfigState.FAILED ? error : "",
  }));
  for (const c of [...older, ...current]) c.settledAt = at;
  return [...settled, ...replaced];
}

export function requestsNewInstanceUid(msg: AgentToServer): boolean {
  return (msg.flags & BigInt(AgentToServerFlags.AgentToServerFlags_RequestInstanceUid)) !== 0n;
}

export function markDisconnected(agent: Agent, connectionId: string, now: number): boolean {
  const status = agent.status;
  if (!status || !status.connected || status.connectionId !== connectionId) return false;
  status.connected = false;
  status.disconnectedAt = timestampFromMs(now);
  return true;
}

