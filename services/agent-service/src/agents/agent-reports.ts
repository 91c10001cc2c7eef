import { CommandKind, ConnectionType, type Agent, type Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentCapabilities, type AgentToServer, type CustomCapabilities, type ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidProblem, isAcknowledgement, newInstanceUidReply, serverCapabilities } from "@fleetplane/opamp";
import { instanceUidToHex, LogRateLimit, type Logger, uuidv7Bytes } from "@fleetplane/platform";
import type { CertificateDesk, CsrDecision } from "../certificates/certificate-desk.js";
import { AgentNotFoundError, InvalidRequestError } from "./agent-errors.js";
import { markDelivered, markDisconnected, queueCertificateRefusal, report, requestsNewInstanceUid, takeAnsweredHeartbeats, type CommandTransition } from "./agent-model.js";
import type { AgentChange, AgentStore } from "./agent-store.js";
import { auditedCommand, type AuditedCommand } from "./command-audit-port.js";
import type { GroupCatalog, GroupSnapshot } from "../fleet/group-catalog.js";
import { namespaceOf, namespaceOfNewAgent } from "./agent-namespace.js";
import { joinGroup } from "./group-membership.js";
import { newCommandId } from "./command-id.js";
import { SPEC_DEFAULT_HEARTBEAT_SECONDS, heartbeatOffer, noteHeartbeatInterval } from "./heartbeat-offer.js";
import { applyCertificateOffer, offerTransitions, tlsCertificateOf } from "./offers.js";
import { buildServerToAgent } from "./server-to-agent-builder.js";
import { ReconcileQueue } from "./reconcile-queue.js";
import { AgentCredentialRefusedError } from "../enrollment/enrollment-errors.js";
import type { Enrollment, EnrollmentTokens } from "../enrollment/enrollment-tokens.js";
import { bindingRefusal, enrollmentCredentialOf } from "../enrollment/credential-binding.js";

export interface AgentReportsOptions {
  store: AgentStore;
  logger: Logger;
  /** Takes agents' certificate signing requests; without it they are only stored on the agent. */
  certificates?: CertificateDesk;
  now?: () => number;
  /**
   * Heartbeat interval offered to agents that report heartbeats and accept
   * OpAMP connection settings (see heartbeat-offer.ts); 0 offers none.
   * Default: the spec's 30 s.
   */
  heartbeatIntervalSeconds?: number;
  /** Custom capabilities declared to agents (see server-custom-capabilities.ts); default none. */
  customCapabilities?: CustomCapabilities | undefined;
  /** The groups of each namespace; without it agents get no group configuration. */
  groups?: GroupCatalog;
  /** Enrolls new agents that come with a token credential; without it such agents are refused. */
  enrollment?: EnrollmentTokens;
  /**
   * Audit reconciliations of agents coming back (see reconcileAudit) run at
   * most this many at once; the rest wait their turn. Default 8: a restart
   * brings a whole fleet back within seconds.
   */
  auditReconcileConcurrency?: number;
  /**
   * How long after an admin's change of an agent failed its reconciliation
   * runs (reconcileLater). Default 30 s: a write the database still applied
   * after the driver gave up on it (a network error, a timeout) has long
   * landed by then, so the agent is read as it ended up.
   */
  auditReconcileDelayMs?: number;
  /** Agents waiting for their reconciliation at most (ReconcileQueueOptions.maxWaiting). */
  auditReconcileMaxWaiting?: number;
}

/** Default of AgentReportsOptions.auditReconcileDelayMs. */
export const DEFAULT_AUDIT_RECONCILE_DELAY_MS = 30_000;

/** The reply to an agent's message, and the heartbeat interval the agent runs at (0: unknown) for its gateway's liveness check. */
export interface ReportReply {
  reply: ServerToAgent;
  heartbeatIntervalSeconds: bigint;
  /**
   * The reply is a plain acknowledgement and the message changed nothing but
   * liveness: the gateway may answer the agent's next heartbeats with it
   * itself (ReportMessageResponse.acknowledges_heartbeats).
   */
  acknowledgesHeartbeats: boolean;
}

/**
 * The report path of the design, agent-service's half of what the gateway
 * sees: OnMessage (an agent's report, answered by the reply to send), the
 * pull that follows a push notice, and OnConnectionClose. This is the hot
 * path: a heartbeat of a cached agent costs no database read and no write
 * until the next liveness batch.
 */
export class AgentReports {
  private readonly now: () => number;
  private readonly heartbeatSeconds: bigint;
  /** ServerCapabilities announced in every message. */
  readonly capabilities: bigint;
  private readonly reconciliations: ReconcileQueue;
  private readonly reconcileFailures = new LogRateLimit({ intervalMs: 10_000 });
  /**
   * The connection of each agent whose gateway may answer its heartbeats
   * itself (acknowledgesHeartbeats): the sequence number held for such an
   * agent may trail its own by the heartbeats answered and not yet reported
   * (up to a gateway's report interval, or more if that gateway died).
   */
  private readonly answeredBy = new Map<string, string>();

  constructor(private readonly deps: AgentReportsOptions) {
    this.reconciliations = new ReconcileQueue({
      concurrency: deps.auditReconcileConcurrency ?? 8,
      work: (uid) => this.reconcileAudit(uid),
      logger: deps.logger,
      ...(deps.auditReconcileMaxWaiting !== undefined ? { maxWaiting: deps.auditReconcileMaxWaiting } : {}),
    });
    this.now = deps.now ?? Date.now;
    this.capabilities = serverCapabilities({ signsCertificates: deps.certificates?.signsCertificates ?? false });
    this.heartbeatSeconds = BigInt(Math.max(0, Math.round(deps.heartbeatIntervalSeconds ?? Number(SPEC_DEFAULT_HEARTBEAT_SECONDS))));
  }

  /** Stops the audit reconciliations: none waits or starts after it, and those running are waited for (at most the queue's CLOSE_WAIT_MS) before it resolves; call it before the store closes. */
  close(): Promise<void> {
    return this.reconciliations.close();
  }

  /**
   * OnMessage's agent half: GetOrCreateAgent, Connected=true, report(), SaveAgent, fetchServerToAgent().
   * `heartbeatsAnswered`: heartbeats the gateway answered itself just before `msg` (takeAnsweredHeartbeats).
   */
  async reportMessage(connection: Connection, msg: AgentToServer, heartbeatsAnswered = 0n): Promise<ReportReply> {
    const uidProblem = instanceUidProblem(msg.instanceUid);
    if (uidProblem) throw new InvalidRequestError(uidProblem);
    if (requestsNewInstanceUid(msg)) return { reply: this.assignNewInstanceUid(msg.instanceUid, "the agent asked for one"), heartbeatIntervalSeconds: 0n, acknowledgesHeartbeats: false };
    const uid = instanceUidToHex(msg.instanceUid);
    // Checking and signing a CSR is asynchronous work, done before the
    // agent's lock is taken; its outcome is applied under the lock below.
    // Only a message that carries a CSR pays for it: a command id is a
    // UUIDv7 (a randomFillSync call), which cost 4 % of the server's CPU in
    // steady state when it was made for every message (docs/performance.md §6).
    const csrCarried = Boolean(msg.connectionSettingsRequest?.opamp && this.deps.certificates);
    // The desk keeps every CSR it sees: one for a UID bound to another
    // credential is refused before the desk is asked.
    if (csrCarried) await this.refuseIfBoundElsewhere(uid, connection);
    const csr = csrCarried ? await this.receiveCsr(uid, msg, connection) : undefined;
    const csrCommandId = csr ? newCommandId(this.now()) : "";

    // A message that describes the agent (its first, or one after a change)
    // may move it to another group: only then are the groups of its
    // namespace looked at, O(groups); a heartbeat never pays for it.
    const catalog = msg.agentDescription ? this.deps.groups : undefined;
    let groups: GroupSnapshot | undefined;
    // A new agent that presented a token enrolls with it (which may refuse
    // it: a used-up token), before it is stored. One that presented only a
    // client certificate enrolls with nothing (default namespace, no labels).
    const credential = connection.credential;
    const enrollWith = enrollmentCredentialOf(connection);
    let enrollment: Enrollment | undefined;
    const before =
      catalog || enrollWith
        ? async (known: Agent | undefined) => {
            if (!known && enrollWith) enrollment = await this.enroll(enrollWith, uid);
            if (catalog) groups = await catalog.snapshot(known ? namespaceOf(known) : namespaceOfNewAgent(msg, enrollment));
          }
        : undefined;

    let cameBack = false;
    const outcomeOrRefusal = await this.deps.store.mutate<ReportReply | { refused: string }>(uid, { create: true, serve: true, ...(before ? { before } : {}) }, (agent, known) => {
      // An instance UID belongs to the credential it first came with
      // (credential-binding.ts): another one is refused before anything of
      // the message is applied, and nothing is evicted or written.
      const bound = agent.metadata!.credential;
      const refused = bindingRefusal(bound, connection, uid);
      if (refused) return { persist: "no", result: { refused } };
      if (known && this.isDuplicate(uid, agent, connection, msg)) {
        this.deps.logger.warn({ agent: uid, connection: connection.id, otherConnection: agent.status?.connectionId }, "duplicate instance UID: another live connection uses it; assigning a new one");
        return { persist: "no", result: { reply: this.assignNewInstanceUid(msg.instanceUid, "duplicate"), heartbeatIntervalSeconds: 0n, acknowledgesHeartbeats: false } };
      }
      // First use binds; a certificate issued for the UID takes it over.
      const binds = Boolean(credential) && bound !== credential;
      if (binds) {
        if (bound) this.deps.logger.info({ agent: uid, from: bound, to: credential }, "instance UID now bound to the client certificate issued for it");
        agent.metadata!.credential = credential;
      }
      if (!known) {
        agent.metadata!.namespace = namespaceOfNewAgent(msg, enrollment);
        if (enrollment) agent.metadata!.labels = { ...enrollment.labels };
      } else cameBack = agent.status?.connectionId !== connection.id || !agent.status?.connected;
      if (known) takeAnsweredHeartbeats(agent, connection, msg, heartbeatsAnswered);
      const outcome = report(agent, msg, connection, { now: this.now(), known });
      outcome.changed ||= binds;
      const grouped = groups ? joinGroup(agent, groups, this.now()) : undefined;
      if (grouped) {
        outcome.changed ||= grouped.changed;
        outcome.transitions.push(...grouped.transitions);
      }
      // The heartbeat offer is worked out once per message, from the agent
      // as reported, and handed down to everything that needs it.
      let heartbeat = heartbeatOffer(agent, this.heartbeatSeconds);
      outcome.transitions.push(...offerTransitions(agent, msg, heartbeat));
      const answered = csr ? this.answerCsr(agent, csr, csrCommandId) : undefined;
      if (answered) {
        outcome.transitions.push(...answered.transitions);
        // A signed certificate is a new admin offer: the desired settings change with it.
        heartbeat = heartbeatOffer(agent, this.heartbeatSeconds);
      }
      const built = buildServerToAgent(agent, {
        requestFullState: outcome.needsFullState,
        capabilities: this.capabilities,
        heartbeat,
        customCapabilities: this.deps.customCapabilities,
        announceCustomCapabilities: outcome.announceCustomCapabilities,
      });
      const interval = noteHeartbeatInterval(agent, heartbeat, { reported: msg, sent: built.message });
      const transitions = [...outcome.transitions, ...this.deliver(agent, built.deliveredCommandIds)];
      const changed = outcome.changed || interval || built.deliveredCommandIds.length > 0;
      // Only a message that changed nothing, answered with nothing to say,
      // lets the gateway answer the next heartbeats itself: anything pending
      // for the agent (an offer riding on replies, a full-state request)
      // makes the reply more than an acknowledgement.
      const acknowledgesHeartbeats = !changed && !answered && !outcome.disconnected && transitions.length === 0 && isAcknowledgement(built.message);
      if (acknowledgesHeartbeats) this.answeredBy.set(uid, connection.id);
      else this.answeredBy.delete(uid);
      return {
        persist: changed ? "now" : "later",
        result: { reply: built.message, heartbeatIntervalSeconds: agent.status?.heartbeatIntervalSeconds ?? 0n, acknowledgesHeartbeats },
        stored: answered || grouped?.records.length ? () => this.recordAll([answered?.record, ...(grouped?.records ?? [])]) : undefined,
        transitions,
        evict: outcome.disconnected,
      };
    });
    if ("refused" in outcomeOrRefusal) throw new AgentCredentialRefusedError(outcomeOrRefusal.refused);
    if (csr && csr.kind !== "pending") await this.deps.certificates!.noteCommand(csr.request, csrCommandId);
    // A known agent on a new connection: whatever the audit missed while it
    // was away (a crash of the process that served it) is settled now, in
    // the background — the reply does not wait for the audit trail.
    if (cameBack) this.reconciliations.add(uid);
    return outcomeOrRefusal;
  }

  private async refuseIfBoundElsewhere(uid: string, connection: Connection): Promise<void> {
    const bound = await this.deps.store
      .mutate(uid, { create: false }, (agent) => ({ persist: "no", result: agent.metadata?.credential ?? "" }))
      .catch((err) => {
        if (err instanceof AgentNotFoundError) return "";
        throw err;
      });
    const refused = bindingRefusal(bound, connection, uid);
    if (refused) throw new AgentCredentialRefusedError(refused);
  }

  private async enroll(credential: string, uid: string): Promise<Enrollment> {
    if (!this.deps.enrollment) throw new AgentCredentialRefusedError("this server takes no enrollment tokens");
    return this.deps.enrollment.enroll(credential, uid);
  }

  /**
   * Reconciles the agent's audit records in the background, after
   * auditReconcileDelayMs: an admin's change of it failed in a way that may
   * still have stored it (AdminCommandsOptions.reconcile), so a connected
   * agent does not wait for its next reconnect to have the command recorded.
   */
  reconcileLater(uid: string): void {
    this.reconciliations.later(uid, this.deps.auditReconcileDelayMs ?? DEFAULT_AUDIT_RECONCILE_DELAY_MS);
  }

  private async reconcileAudit(uid: string): Promise<void> {
    try {
      const { recorded, moved } = await this.deps.store.reconcileAudit(uid);
      if (recorded + moved > 0) this.deps.logger.info({ agent: uid, recorded, moved }, "audit trail caught up with the stored agent (records it lacked, moves it missed)");
    } catch (err) {
      if (err instanceof AgentNotFoundError) return;
      // Rate-limited: with the store or the audit trail away, a reconnecting fleet (or a failed rollout stage's agents, a delay later) all fail alike.
      const extra = this.reconcileFailures.take("failed");
      if (extra) this.deps.logger.warn({ agent: uid, err: String(err), ...extra }, "could not reconcile the agent's audit records; will try on its next reconnect");
    }
  }

  /**
   * What to push to an agent on the given connection (no message when there
   * is nothing to say), and whether a pull right after would find more to
   * send (a restart goes alone, the rest follows): the gateway pulls again
   * only then, not once more per push to learn that nothing is left — a
   * call and a store read per pushed agent.
   */
  async pull(uid: string, connectionId: string, revision = 0n): Promise<{ message?: ServerToAgent; more: boolean }> {
    // Read through to the store: the change being pushed may have been made
    // by another agent-service replica, after this one cached the agent —
    // unless the cached copy is at least the revision the push announced
    // (this replica stored the change itself: a rollout's pin, routed to the
    // replica serving the agent). Only the agent's own gateway pulls: this
    // replica serves it.
    return this.deps.store.mutate(uid, { create: false, fresh: revision > 0n ? revision : true, serve: true }, (agent): AgentChange<{ message?: ServerToAgent; more: boolean }> => {
      const nothing = { persist: "no" as const, result: { more: false } };
      if (agent.status?.connectionId !== connectionId || !agent.status.connected) return nothing;
      const heartbeat = heartbeatOffer(agent, this.heartbeatSeconds);
      const built = buildServerToAgent(agent, { requestFullState: false, capabilities: this.capabilities, heartbeat });
      // A push exists to deliver something new (a pending command). Desired
      // state the agent already received but has not confirmed (a config it
      // is still applying) rides on its next reply instead: pushing it again
      // would send the same config on every pull.
      if (!built.hasContent || built.deliveredCommandIds.length === 0) return nothing;
      noteHeartbeatInterval(agent, heartbeat, { sent: built.message });
      const configsOnly = built.deliveredCommandIds.every((id) => agent.commands.find((c) => c.id === id)?.kind === CommandKind.REMOTE_CONFIG_UPDATED);
      const transitions = this.deliver(agent, built.deliveredCommandIds);
      // What the next pull would build from this copy (it reads the store again, which only adds).
      const next = buildServerToAgent(agent, { requestFullState: false, capabilities: this.capabilities, heartbeat: heartbeatOffer(agent, this.heartbeatSeconds) });
      const more = next.hasContent && next.deliveredCommandIds.length > 0;
      // A config marked delivered is written with the agent's next report
      // (its APPLYING or APPLIED, moments later) or the next batch: lost in a
      // crash, it is only sent again, and the builder never resends a hash
      // the agent reports having. Anything else delivered (a restart, above
      // all) is written before it goes out. One write per pushed config fewer.
      return { persist: configsOnly ? "soon" : "now", result: { message: built.message, more }, transitions };
    });
  }

  /** OnConnectionClose's agent half: Connected=false, unless the agent already moved on. */
  async markDisconnected(uid: string, connectionId: string): Promise<boolean> {
    return this.deps.store
      .mutate(uid, { create: false }, (agent) => {
        const done = markDisconnected(agent, connectionId, this.now());
        if (done) this.answeredBy.delete(uid);
        return { persist: done ? "now" : "no", result: done, evict: done };
      })
      .catch((err) => {
        if (err instanceof AgentNotFoundError) return false;
        throw err;
      });
  }

  private recordAll(records: Array<AuditedCommand | undefined>): void {
    for (const r of records) if (r) void this.deps.store.record(r);
  }

  /** Hands a CSR the message carries to the certificate desk. */
  private async receiveCsr(uid: string, msg: AgentToServer, connection: Connection): Promise<CsrDecision | undefined> {
    const request = msg.connectionSettingsRequest?.opamp;
    if (!request || !this.deps.certificates) return undefined;
    const acceptsOpampSettings = (msg.capabilities & BigInt(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings)) !== 0n;
    // A new agent lands in the namespace of the token it enrolls with (beside a client certificate, too).
    const namespace = await this.namespaceOfSender(uid, msg, enrollmentCredentialOf(connection) || undefined);
    return this.deps.certificates.receive(uid, request.certificateRequest?.csr ?? new Uint8Array(), { acceptsOpampSettings, authenticated: Boolean(connection.credential), namespace });
  }

  /**
   * The namespace of the agent sending `msg`, read before its lock is taken
   * (a CSR is filed under it): the stored agent's, or for a new one where it
   * will land (its credential's, else the default).
   */
  private async namespaceOfSender(uid: string, msg: AgentToServer, credential: string | undefined): Promise<string> {
    try {
      return namespaceOf(await this.deps.store.getAgent(uid));
    } catch (err) {
      if (!(err instanceof AgentNotFoundError)) throw err;
    }
    const enrollment = credential && this.deps.enrollment ? { namespace: await this.deps.enrollment.namespaceOf(credential), labels: {} } : undefined;
    return namespaceOfNewAgent(msg, enrollment);
  }

  /**
   * Turns the desk's decision into what the agent is told: a signed
   * certificate becomes an OpAMP connection settings offer, a refusal an
   * error_response; a pending request stays visible on the agent.
   */
  private answerCsr(agent: Agent, decision: CsrDecision, commandId: string): { record: AuditedCommand; transitions: CommandTransition[] } | undefined {
    if (decision.kind === "pending") return undefined;
    const uid = decision.request.instanceUid;
    const options = { commandId, requestedBy: decision.request.decidedBy, now: this.now() };
    delete agent.status!.connectionSettingsRequest;
    if (decision.kind === "refused") {
      return { record: auditedCommand(uid, queueCertificateRefusal(agent, decision.reason, options), namespaceOf(agent)), transitions: [] };
    }
    const { command, transitions } = applyCertificateOffer(agent, tlsCertificateOf(decision.issued), this.deps.certificates!.opampEndpoint, options);
    return { record: auditedCommand(uid, command, namespaceOf(agent)), transitions };
  }

  private isDuplicate(uid: string, agent: Agent, connection: Connection, msg: AgentToServer): boolean {
    const s = agent.status;
    if (!s?.connected || s.connectionId === connection.id) return false;
    if (s.connectionType !== ConnectionType.WEBSOCKET || connection.type !== ConnectionType.WEBSOCKET) return false;
    // A connection of an earlier process of the same gateway died with it
    // (kill -9 leaves it "connected" in the store, with a sequence number
    // the batched liveness may not have written): the agent is back, not cloned.
    if (s.gatewayId === connection.gatewayId && s.gatewayEpoch !== connection.gatewayEpoch) return false;
    // An agent that reconnects carries on counting; a second instance using
    // the same UID has its own count. Only the latter is a duplicate. When
    // the live connection's gateway answered heartbeats itself, the count
    // held here may trail the agent's (its gateway died before reporting
    // them): the agent carrying on is then ahead, by any number.
    if (this.answeredBy.get(uid) === s.connectionId) return msg.sequenceNum <= s.sequenceNum;
    return msg.sequenceNum !== s.sequenceNum + 1n;
  }

  private assignNewInstanceUid(oldUid: Uint8Array, why: string): ServerToAgent {
    const newInstanceUid = uuidv7Bytes(this.now());
    this.deps.logger.info({ agent: instanceUidToHex(oldUid), newAgent: instanceUidToHex(newInstanceUid), why }, "assigning a new instance UID");
    // The reply also asks the agent to tell everything again under its new identity.
    return newInstanceUidReply(oldUid, this.capabilities, newInstanceUid);
  }

  private deliver(agent: Agent, commandIds: string[]): CommandTransition[] {
    markDelivered(agent, commandIds, this.now());
    return commandIds.map((commandId) => {
      const config = agent.commands.find((c) => c.id === commandId)?.kind === CommandKind.REMOTE_CONFIG_UPDATED;
      return { commandId, to: "delivered" as const, detail: "", ...(config ? { awaitsReport: true } : {}) };
    });
  }
}
