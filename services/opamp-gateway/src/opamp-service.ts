import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import { ServerErrorResponseType, type AgentToServer, type ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { errorReply, instanceUidProblem, retryAfterHeader } from "@fleetplane/opamp";
import { bytesEqual, instanceUidToHex, LogRateLimit, type Logger } from "@fleetplane/platform";
import type { IncomingMessage } from "node:http";
import { AgentConnectionClosedError, AgentRefusal, type AgentConnection } from "./agent-connection.js";
import { NO_CREDENTIALS, type AgentAuthenticator } from "./agent-authentication.js";
import { certificateTakesOver } from "./client-certificate.js";
import type { AnnouncedCapabilities } from "./announced-capabilities.js";
import { InboundMessageTooLargeError } from "./inbound-message-too-large.js";
import { MessageOverLimitError } from "./agent-message-limits.js";
import type { CleanupQueue } from "./cleanup-queue.js";
import type { ConnectionTracker } from "./connection-tracker.js";
import { ReportBatcher } from "./report-batcher.js";
import { HeartbeatAnswers } from "./heartbeat-answers.js";
import type { ConnectingDecision, OpampCallbacks } from "./opamp-callbacks.js";
import { sourceAddress, type RateLimitedWarnings } from "./rate-limited-warnings.js";
import type { WebSocketRegistry } from "./websocket-registry.js";

export interface OpampServiceOptions {
  agents: Client<typeof AgentGatewayService>;
  connections: ConnectionTracker;
  registry: WebSocketRegistry;
  cleanup: CleanupQueue;
  /** The server capabilities announced in error replies made here. */
  capabilities: AnnouncedCapabilities;
  logger: Logger;
  /** Where per-input warnings go (one line per kind and source per interval). */
  warnings: RateLimitedWarnings;
  /** RetryInfo offered to agents when a dependency is down. */
  retryAfterMs: number;
  /** Resolves when this gateway's lease is current (see GatewayLease.current). */
  leaseCurrent?: () => Promise<void>;
  /** Whether the lease is current now, without renewing (GatewayLease.held): heartbeats are answered here only then. */
  leaseHeld?: () => boolean;
  /** How often heartbeats answered here are reported to agent-service (default 1 s; heartbeat-answers.ts). */
  heartbeatReportMs?: number;
  /** Decides what agents must present (--agent-auth); without it nothing is asked. */
  authenticator?: AgentAuthenticator;
}

/**
 * How long a new connection's anonymous save waits for the first message's
 * save to take it over (ConnectionTracker.saveSoon). Longer than a first
 * message takes to arrive even in a connect storm (first replies within
 * ~3 s at 5,000 agents at once on 2 cores), shorter than the first-message timeout.
 */
const ANONYMOUS_SAVE_DELAY_MS = 5_000;

/** The challenge sent with a 401 (RFC 6750 §3). */
const BEARER_CHALLENGE = { "WWW-Authenticate": 'Bearer realm="opamp"' };

/**
 * The opamp.Service of the design: the OpAMP callbacks, implemented against
 * agent-service through its Connect client. Protocol errors become the
 * spec's error_response; nothing here throws into the transport.
 */
export class OpampService implements OpampCallbacks {
  private draining = false;

  private readonly reports: ReportBatcher;
  private readonly heartbeats: HeartbeatAnswers;
  /**
   * Agents (hex UID) whose WebSocket here closed and whose cleanup (marking
   * them disconnected) is still queued, with that connection. An agent
   * that restarts (its sequence back to 0) reconnects at once: its first
   * message must not find the old socket "connected" and be taken for a
   * second instance with the same UID.
   */
  private readonly closing = new Map<string, AgentConnection>();

  /**
   * Failures that are not the agent's input (per-input warnings are
   * RateLimitedWarnings'): agent-service failing every message or every new
   * connection's save at once is a line per kind per 10 s, with the count.
   */
  private readonly failureLines = new LogRateLimit({ intervalMs: 10_000 });

  constructor(private readonly deps: OpampServiceOptions) {
    this.reports = new ReportBatcher(deps.agents);
    this.heartbeats = new HeartbeatAnswers({
      report: (connection, message, save, answered) => this.reports.report(connection, message, save, answered),
      logger: deps.logger,
      leaseHeld: deps.leaseHeld,
      ...(deps.heartbeatReportMs !== undefined ? { flushMs: deps.heartbeatReportMs } : {}),
    });
  }

  /** Stops reporting answered heartbeats on a timer (after the connections' cleanups have run). */
  stop(): void {
    this.heartbeats.stop();
  }

  answerHeartbeat(conn: AgentConnection, message: AgentToServer): ServerToAgent | undefined {
    return this.heartbeats.answer(conn, message);
  }

  /** A push notice for the agent on `conn`: its next heartbeat goes to agent-service (heartbeat-answers.ts). */
  pushNoticed(conn: AgentConnection): void {
    this.heartbeats.withdraw(conn);
  }

  /** Refuse new connections (graceful shutdown): agents are told to retry later. */
  stopAccepting(): void {
    this.draining = true;
  }

  async onConnecting(request: IncomingMessage): Promise<ConnectingDecision> {
    if (this.draining) {
      return { accept: false, status: 503, reason: "server shutting down; retry later", headers: { "Retry-After": retryAfterHeader(this.deps.retryAfterMs) } };
    }
    if (!this.deps.authenticator) return { accept: true, credentials: NO_CREDENTIALS };
    let decision;
    try {
      decision = await this.deps.authenticator.authenticate(request);
    } catch (err) {
      // agent-service cannot say: the agent comes back later, as for any outage.
      this.deps.warnings.warn("agent-service-unavailable", sourceAddress(request.socket.remoteAddress ?? "?"), { err: String(err) }, "could not check an agent's credential; told it to retry");
      return { accept: false, status: 503, reason: "server temporarily unavailable; retry later", headers: { "Retry-After": retryAfterHeader(this.deps.retryAfterMs) } };
    }
    if ("credentials" in decision) return { accept: true, credentials: decision.credentials };
    this.deps.warnings.warn("agent-auth-refused", sourceAddress(request.socket.remoteAddress ?? "?"), { status: decision.status, reason: decision.reason }, "refused an agent's credential");
    return { accept: false, status: decision.status, reason: decision.reason, headers: decision.status === 401 ? BEARER_CHALLENGE : {} };
  }

  onConnected(conn: AgentConnection): void {
    // detectConnectionType + NewConnection of the design.
    const record = this.deps.connections.open(conn);
    if (conn.type === ConnectionType.WEBSOCKET) this.deps.registry.register(conn);
    this.deps.logger.debug({ connection: conn.id, type: ConnectionType[conn.type], remote: conn.remoteAddress }, "agent connected");
    // SaveConnection before the agent is named ("anonymous"): written in the
    // background, since nothing waits on it and the next save carries it all
    // — so it waits a moment for that save (the first message) to take it over.
    this.deps.connections.saveSoon(record, ANONYMOUS_SAVE_DELAY_MS, (err) => {
      const extra = this.failureLines.take("connection-save");
      if (extra) this.deps.logger.warn({ connection: conn.id, err: String(err), ...extra }, "could not save new connection; will save on its first message");
    });
  }

  onAdmissionRefused(conn: AgentConnection): void {
    // Its anonymous save is not written (it would be, 5 s on, for every
    // socket of a flood: 34,000 writes that starved agent-service at 100,000
    // agents); its first admitted message saves it, named. Closed before,
    // it was never stored and its cleanup writes nothing.
    this.deps.connections.forgoAnonymousSave(conn.id);
  }

  async onMessage(conn: AgentConnection, message: AgentToServer): Promise<ServerToAgent | AgentRefusal> {
    const uidProblem = instanceUidProblem(message.instanceUid);
    if (uidProblem !== undefined) {
      this.deps.warnings.warn("bad-instance-uid", sourceAddress(conn.remoteAddress), { connection: conn.id, length: message.instanceUid.length }, "rejected message: instance_uid is not 16 bytes");
      return this.errorReply(message.instanceUid, ServerErrorResponseType.ServerErrorResponseType_BadRequest, uidProblem);
    }
    const record = this.deps.connections.get(conn.id) ?? this.deps.connections.open(conn);
    try {
      let named = false;
      // Update connection.InstanceUID (and the registry) only when it changed:
      // the first message, or after the server assigned a new instance UID.
      // (A byte comparison: two hex conversions per message showed in profiles.)
      if (!bytesEqual(record.instanceUid, message.instanceUid)) {
        // A WebSocket of this gateway holding the UID under another
        // credential keeps it (and its place in the registry, so pushes
        // still reach it); agent-service checks the UID's binding for the rest.
        // (Unless this one's certificate was issued for the UID: credential-binding.ts.)
        const uid = instanceUidToHex(message.instanceUid);
        const holder = conn.type === ConnectionType.WEBSOCKET ? this.deps.registry.getByInstanceUid(uid) : undefined;
        const otherCredential = holder && holder !== conn && holder.credentials.credential !== conn.credentials.credential;
        if (otherCredential && !certificateTakesOver(conn.credentials, uid)) return this.refuse(conn, message.instanceUid, "instance UID is bound to another credential");
        // A copy (not .slice(): on a Buffer that is a view too): the
        // message's is a view of its whole frame, which the record would
        // keep alive while the agent is connected.
        record.instanceUid = new Uint8Array(message.instanceUid);
        conn.agent = uid;
        if (conn.type === ConnectionType.WEBSOCKET) this.deps.registry.updateInstanceUid(conn.id, uid);
        named = true;
        // Its save rides on this message's report: the put-off anonymous
        // save is not written even if the report waits longer than it (a
        // lease renewal or the previous socket's cleanup held up by a slow
        // store), or every new agent costs that store two writes.
        this.deps.connections.forgoAnonymousSave(conn.id);
        this.heartbeats.withdraw(conn);
        await this.closePreviousFirst(conn);
      }
      // Heartbeats answered here before this message are reported with it, in order.
      const answered = await this.heartbeats.settle(conn.id);
      const generation = this.heartbeats.generation(conn.id);
      await this.deps.leaseCurrent?.();
      // SaveConnection of the named connection rides on the report (saved
      // before it, as in the design): one call per new agent, not two.
      const result = named ? await this.deps.connections.saveWith(record, () => this.reports.report(record, message, true, answered)) : await this.reports.report(record, message, false, answered);
      const { reply, heartbeatIntervalSeconds } = result;
      if (conn.type === ConnectionType.WEBSOCKET) this.heartbeats.decided(conn, record, message, result, generation);
      conn.liveness.runsAt(heartbeatIntervalSeconds);
      this.deps.capabilities.relayed(reply);
      return reply;
    } catch (err) {
      this.heartbeats.withdraw(conn);
      return this.replyForFailure(conn, message.instanceUid, err);
    }
  }

  onReadMessageError(conn: AgentConnection, error: Error): ServerToAgent | undefined {
    const tooLarge = error instanceof InboundMessageTooLargeError;
    const overLimit = error instanceof MessageOverLimitError;
    const fields = { agent: conn.agent || undefined, connection: conn.id, remote: conn.remoteAddress, err: error.message };
    const kind = tooLarge ? "message-too-large" : overLimit ? "message-over-limit" : "unreadable-message";
    this.deps.warnings.warn(kind, sourceAddress(conn.remoteAddress), fields, overLimit ? "refused agent message over a limit" : "could not read agent message");
    // The transport answered an oversized message itself (413, or close 1009).
    if (tooLarge) return undefined;
    // Over a limit, the message named its sender before the walk stopped.
    const named = overLimit && instanceUidProblem(error.instanceUid) === undefined ? error.instanceUid : undefined;
    const known = named ?? this.deps.connections.get(conn.id)?.instanceUid ?? new Uint8Array();
    return this.errorReply(known, ServerErrorResponseType.ServerErrorResponseType_BadRequest, error.message);
  }

  onMessageResponseError(conn: AgentConnection, message: ServerToAgent, error: Error): void {
    // An agent that hung up before its reply is routine (debug); anything else is worth a warning.
    const fields = { connection: conn.id, agent: instanceUidToHex(message.instanceUid), err: error.message };
    if (error instanceof AgentConnectionClosedError) this.deps.logger.debug(fields, "could not send message to agent");
    else this.deps.warnings.warn("reply-not-sent", sourceAddress(conn.remoteAddress), fields, "could not send message to agent");
  }

  onConnectionClose(conn: AgentConnection): void {
    if (conn.type === ConnectionType.WEBSOCKET) this.deps.registry.unregister(conn.id);
    const named = conn.type === ConnectionType.WEBSOCKET && conn.agent ? conn.agent : undefined;
    if (named) this.closing.set(named, conn);
    // Return at once; the background loop does GetConnectionByID, marks the
    // agent disconnected unless anonymous, and deletes the connection.
    this.deps.cleanup.enqueue(`close ${conn.id}`, async () => {
      try {
        // A report of this socket still in hand would otherwise be stored after the disconnect and undo it.
        await conn.settled();
        // So would the heartbeats answered here and not yet reported: they go first.
        await this.heartbeats.closed(conn.id);
        const record = this.deps.connections.get(conn.id);
        if (!record) return;
        if (record.instanceUid.length > 0) {
          const uid = instanceUidToHex(record.instanceUid);
          const { disconnected } = await this.deps.agents.markDisconnected({ instanceUid: uid, connectionId: conn.id });
          this.deps.logger.info({ agent: uid, connection: conn.id, disconnected }, "agent connection closed");
        }
        await this.deps.connections.delete(conn.id);
      } finally {
        if (named && this.closing.get(named) === conn) this.closing.delete(named);
      }
    });
  }

  /**
   * The agent's first message on a new WebSocket: if its previous socket
   * here closed and the cleanup is still queued, mark that one disconnected
   * now (the queued cleanup then finds nothing left to do).
   */
  private async closePreviousFirst(conn: AgentConnection): Promise<void> {
    const previous = this.closing.get(conn.agent);
    if (previous === undefined || previous === conn || conn.type !== ConnectionType.WEBSOCKET) return;
    await previous.settled();
    await this.deps.agents.markDisconnected({ instanceUid: conn.agent, connectionId: previous.id });
  }

  private refuse(conn: AgentConnection, instanceUid: Uint8Array, reason: string): AgentRefusal {
    this.deps.warnings.warn("agent-auth-refused", sourceAddress(conn.remoteAddress), { agent: instanceUidToHex(instanceUid), connection: conn.id, credential: conn.credentials.credential, reason }, "refused an agent's message: its credential may not speak for this instance UID");
    return new AgentRefusal(reason);
  }

  private replyForFailure(conn: AgentConnection, instanceUid: Uint8Array, err: unknown): ServerToAgent | AgentRefusal {
    const ce = ConnectError.from(err);
    if (ce.code === Code.Unauthenticated) return this.refuse(conn, instanceUid, ce.rawMessage);
    const agent = instanceUidToHex(instanceUid);
    if (ce.code === Code.InvalidArgument) {
      this.deps.warnings.warn("rejected-message", sourceAddress(conn.remoteAddress), { agent, connection: conn.id, err: ce.rawMessage }, "agent message rejected");
      return this.errorReply(instanceUid, ServerErrorResponseType.ServerErrorResponseType_BadRequest, ce.rawMessage);
    }
    if (ce.code === Code.Unavailable || ce.code === Code.DeadlineExceeded || ce.code === Code.Aborted || ce.code === Code.ResourceExhausted) {
      this.deps.warnings.warn("agent-service-unavailable", sourceAddress(conn.remoteAddress), { agent, connection: conn.id, err: ce.rawMessage }, "agent-service unavailable; told agent to retry");
      return this.errorReply(instanceUid, ServerErrorResponseType.ServerErrorResponseType_Unavailable, "server temporarily unavailable; retry later", this.deps.retryAfterMs);
    }
    const extra = this.failureLines.take("message-failed");
    if (extra) this.deps.logger.error({ agent, connection: conn.id, err, ...extra }, "agent message failed");
    return this.errorReply(instanceUid, ServerErrorResponseType.ServerErrorResponseType_Unknown, "internal error; see the server log");
  }

  private errorReply(instanceUid: Uint8Array, type: ServerErrorResponseType, errorMessage: string, retryAfterMs?: number): ServerToAgent {
    return errorReply(instanceUid, this.deps.capabilities.current, type, errorMessage, retryAfterMs);
  }
}
