import { clone, create } from "@bufbuild/protobuf";
import {
  AgentSchema,
  CommandKind,
  ConnectionType,
  type Agent,
  type AgentCommand,
  type Connection,
} from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { FleetSummary } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import {
  AgentCapabilities,
  ServerToAgentFlags,
  ServerToAgentSchema,
  type AgentConfigMap,
  type AgentToServer,
  type ConnectionSettingsOffers,
  type CustomMessage,
  type PackageAvailable,
  type CustomCapabilities,
  type ServerToAgent,
  type TLSCertificate,
  TLSCertificateSchema,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex, isValidInstanceUid } from "@fleetplane/platform/instance-uid";
import type { Logger } from "@fleetplane/platform/logger";
import type { PushBus } from "@fleetplane/platform/push-bus";
import { uuidv7Bytes } from "@fleetplane/platform/uuidv7";
import {
  applyRemoteConfig,
  hasCapability,
  hasCustomCapability,
  markDelivered,
  markDisconnected,
  newAgent,
  queueCommand,
  queueCertificateRefusal,
  queueCustomMessage,
  report,
  requestsNewInstanceUid,
  type CommandTransition,
} from "./agent-model.js";
import { AgentCannotError, AgentNotFoundError, InvalidRequestError } from "./agent-errors.js";
import { RevisionConflictError, type AgentQuery, type AgentRepository } from "./agent-repository.js";
import type { CertificateDesk, CsrDecision } from "../certificates/certificate-desk.js";
import type { CertificateOffers } from "../certificates/certificate-requests.js";
import type { IssuedCertificate } from "../certificates/certificate-signer.js";
import type { AuditedCommand, CommandAuditPort } from "./command-audit-port.js";
import { computeConfigHash } from "./config-hash.js";
import { SPEC_DEFAULT_HEARTBEAT_SECONDS, noteHeartbeatInterval } from "./heartbeat-offer.js";
import { KeyedMutex } from "./keyed-mutex.js";
import { applyCertificateOffer, applyConnectionSettings, applyPackagesAvailable, offerTransitions } from "./offers.js";
import { buildServerToAgent, serverCapabilities } from "./server-to-agent-builder.js";

export interface AgentUsecaseOptions {
  agents: AgentRepository;
  audit: CommandAuditPort;
  push: PushBus;
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
  /**
   * Messages that only prove liveness (sequence number, last seen) are kept in
   * memory and written in one batch this often, instead of one write each.
   */
  livenessFlushMs?: number;
}

type Persist = "now" | "later" | "no";

/** The reply to an agent's message, and the heartbeat interval the agent runs at (0: unknown) for its gateway's liveness check. */
export interface ReportReply {
  reply: ServerToAgent;
  heartbeatIntervalSeconds: bigint;
}

/** Liveness writes in flight at once during a flush. */
const FLUSH_CONCURRENCY = 32;

/**
 * The AgentUsecase and domain AgentService of the design. Agents that are
 * connected stay cached here, so a status report costs no database read; a
 * report that changes something is written at once (and the reply waits for
 * it), a heartbeat is written in the next batch.
 */
export class AgentUsecase implements CertificateOffers {
  private readonly cache = new Map<string, Agent>();
  private readonly dirty = new Set<string>();
  private readonly mutex = new KeyedMutex();
  private readonly watchers = new Set<(agent: Agent) => void>();
  private readonly now: () => number;
  private readonly heartbeatSeconds: bigint;
  private readonly flushTimer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  /** ServerCapabilities announced in every message. */
  readonly capabilities: bigint;

  constructor(private readonly deps: AgentUsecaseOptions) {
    this.now = deps.now ?? Date.now;
    this.capabilities = serverCapabilities({ signsCertificates: deps.certificates?.signsCertificates ?? false });
    this.heartbeatSeconds = BigInt(Math.max(0, Math.round(deps.heartbeatIntervalSeconds ?? Number(SPEC_DEFAULT_HEARTBEAT_SECONDS))));
    this.flushTimer = setInterval(() => void this.flush(), deps.livenessFlushMs ?? 5_000);
    this.flushTimer.unref();
  }

  /** OnMessage's agent half: GetOrCreateAgent, Connected=true, report(), SaveAgent, fetchServerToAgent(). */
  async reportMessage(connection: Connection, msg: AgentToServer): Promise<ReportReply> {
    if (!isValidInstanceUid(msg.instanceUid)) {
      throw new InvalidRequestError(`instance_uid must be 16 bytes, got ${msg.instanceUid.length}`);
    }
    if (requestsNewInstanceUid(msg)) return { reply: this.assignNewInstanceUid(msg.instanceUid, "the agent asked for one"), heartbeatIntervalSeconds: 0n };
    const uid = instanceUidToHex(msg.instanceUid);
    // Checking and signing a CSR is asynchronous work, done before the
    // agent's lock is taken; its outcome is applied under the lock below.
    // Only a message that carries a CSR pays for it: a command id is a
    // UUIDv7 (a randomFillSync call), which cost 4 % of the server's CPU in
    // steady state when it was made for every message (docs/performance.md §6).
    const csr = msg.connectionSettingsRequest?.opamp && this.deps.certificates ? await this.receiveCsr(uid, msg) : undefined;
    const csrCommandId = csr ? newCommandId(this.now()) : "";

    const reply = await this.mutate(uid, { create: true }, (agent, known) => {
      if (known && this.isDuplicate(agent, connection, msg)) {
        this.deps.logger.warn({ agent: uid, connection: connection.id, otherConnection: agent.status?.connectionId }, "duplicate instance UID: another live connection uses it; assigning a new one");
        return { persist: "no", result: { reply: this.assignNewInstanceUid(msg.instanceUid, "duplicate"), heartbeatIntervalSeconds: 0n } };
      }
      const outcome = report(agent, msg, connection, { now: this.now(), known });
      outcome.transitions.push(...offerTransitions(agent, msg, this.heartbeatSeconds));
      const answered = csr ? this.answerCsr(agent, csr, csrCommandId) : undefined;
      if (answered) outcome.transitions.push(...answered.transitions);
      const applied = noteHeartbeatInterval(agent, this.heartbeatSeconds, { reported: msg });
      const built = buildServerToAgent(agent, {
        requestFullState: outcome.needsFullState,
        capabilities: this.capabilities,
        heartbeatIntervalSeconds: this.heartbeatSeconds,
        customCapabilities: this.deps.customCapabilities,
        announceCustomCapabilities: outcome.announceCustomCapabilities,
      });
      const sent = noteHeartbeatInterval(agent, this.heartbeatSeconds, { sent: built.message });
      const transitions = [...outcome.transitions, ...this.deliver(agent, built.deliveredCommandIds)];
      const changed = outcome.changed || applied || sent || built.deliveredCommandIds.length > 0;
      return {
        persist: changed ? "now" : "later",
        result: { reply: built.message, heartbeatIntervalSeconds: agent.status?.heartbeatIntervalSeconds ?? 0n },
        ...(answered ? { records: [answered.record] } : {}),
        transitions,
        evict: outcome.disconnected,
      };
    });
    if (csr && csr.kind !== "pending") await this.deps.certificates!.noteCommand(csr.request, csrCommandId);
    return reply;
  }

  /** Hands a CSR the message carries to the certificate desk. */
  private async receiveCsr(uid: string, msg: AgentToServer): Promise<CsrDecision | undefined> {
    const request = msg.connectionSettingsRequest?.opamp;
    if (!request || !this.deps.certificates) return undefined;
    const acceptsOpampSettings = (msg.capabilities & BigInt(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings)) !== 0n;
    return this.deps.certificates.receive(uid, request.certificateRequest?.csr ?? new Uint8Array(), { acceptsOpampSettings });
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
      queueCertificateRefusal(agent, decision.reason, options);
      return { record: { id: commandId, instanceUid: uid, kind: "certificate_refusal", configHash: "", requestedBy: options.requestedBy }, transitions: [] };
    }
    const { command, transitions } = applyCertificateOffer(agent, tlsCertificateOf(decision.issued), this.deps.certificates!.opampEndpoint, options);
    return { record: { id: commandId, instanceUid: uid, kind: "client_certificate", configHash: hexOf(command.configHash), requestedBy: options.requestedBy }, transitions };
  }

  /** Offers the certificate of an approved CSR: stored, pushed when connected, audited. */
  async offerCertificate(uid: string, issued: IssuedCertificate, requestedBy: string): Promise<{ command: AgentCommand; pushed: boolean }> {
    const endpoint = this.deps.certificates?.opampEndpoint ?? "";
    return this.offer(uid, requestedBy, "client_certificate", (agent, options) => {
      if (agent.status) delete agent.status.connectionSettingsRequest;
      return applyCertificateOffer(agent, tlsCertificateOf(issued), endpoint, options);
    });
  }

  /** Tells the agent its CSR was denied (error_response BAD_REQUEST, once): stored, pushed when connected, audited. */
  async refuseCertificateRequest(uid: string, reason: string, requestedBy: string): Promise<{ command: AgentCommand; pushed: boolean }> {
    return this.offer(uid, requestedBy, "certificate_refusal", (agent, options) => {
      if (agent.status) delete agent.status.connectionSettingsRequest;
      return { command: queueCertificateRefusal(agent, reason, options), transitions: [] };
    });
  }

  /** Builds what to push to an agent on the given connection; undefined when there is nothing to say. */
  async pullServerToAgent(uid: string, connectionId: string): Promise<ServerToAgent | undefined> {
    // Read through to the store: the change being pushed may have been made
    // by another agent-service replica, after this one cached the agent.
    return this.mutate(uid, { create: false, fresh: true }, (agent) => {
      if (agent.status?.connectionId !== connectionId || !agent.status.connected) return { persist: "no", result: undefined };
      const built = buildServerToAgent(agent, { requestFullState: false, capabilities: this.capabilities, heartbeatIntervalSeconds: this.heartbeatSeconds });
      // A push exists to deliver something new (a pending command). Desired
      // state the agent already received but has not confirmed (a config it
      // is still applying) rides on its next reply instead: pushing it again
      // would send the same config on every pull.
      if (!built.hasContent || built.deliveredCommandIds.length === 0) return { persist: "no", result: undefined };
      noteHeartbeatInterval(agent, this.heartbeatSeconds, { sent: built.message });
      const transitions = this.deliver(agent, built.deliveredCommandIds);
      return { persist: "now", result: built.message, transitions };
    });
  }

  /** OnConnectionClose's agent half: Connected=false, unless the agent already moved on. */
  async markDisconnected(uid: string, connectionId: string): Promise<boolean> {
    return this.mutate(uid, { create: false }, (agent) => {
      const done = markDisconnected(agent, connectionId, this.now());
      return { persist: done ? "now" : "no", result: done, evict: done };
    }).catch((err) => {
      if (err instanceof AgentNotFoundError) return false;
      throw err;
    });
  }

  async getAgent(uid: string): Promise<Agent> {
    const agent = this.cache.get(uid) ?? (await this.deps.agents.get(uid));
    if (!agent) throw new AgentNotFoundError(uid);
    return clone(AgentSchema, agent);
  }

  async listAgents(query: AgentQuery): Promise<Agent[]> {
    const agents = await this.deps.agents.list(query);
    // Cached agents may carry liveness not yet flushed: show the freshest copy.
    return agents.map((a) => clone(AgentSchema, this.cache.get(instanceUidToHex(a.metadata!.instanceUid)) ?? a));
  }

  /**
   * Counts over the whole fleet, from the store. Cached agents differ from
   * their stored copy only in liveness, which the summary does not count.
   */
  async fleetSummary(): Promise<FleetSummary> {
    return this.deps.agents.summarize();
  }

  /** SendCommand flow of the design for a remote configuration. */
  async setRemoteConfig(uid: string, config: AgentConfigMap, requestedBy: string): Promise<{ agent: Agent; command: AgentCommand; pushed: boolean }> {
    if (Object.keys(config.configMap).length === 0) throw new InvalidRequestError("a remote config needs at least one file");
    const commandId = newCommandId(this.now());
    const { agent, command } = await this.mutate(uid, { create: true }, (agent) => {
      const { command, transitions } = applyRemoteConfig(agent, config, { commandId, requestedBy, now: this.now() });
      return { persist: "now", result: { agent: clone(AgentSchema, agent), command }, transitions };
    });
    const pushed = await this.pushIfConnected(agent);
    await this.deps.audit.record({
      id: command.id,
      instanceUid: uid,
      kind: "remote_config",
      configHash: Buffer.from(computeConfigHash(config)).toString("hex"),
      requestedBy,
    });
    return { agent, command, pushed };
  }

  async sendCommand(uid: string, kind: CommandKind, requestedBy: string): Promise<{ command: AgentCommand; pushed: boolean }> {
    if (kind !== CommandKind.RESTART && kind !== CommandKind.REPORT_FULL_STATE) {
      throw new InvalidRequestError("SendCommand takes COMMAND_KIND_RESTART or COMMAND_KIND_REPORT_FULL_STATE; use SetRemoteConfig for configurations");
    }
    const commandId = newCommandId(this.now());
    const { agent, command } = await this.mutate(uid, { create: false }, (agent) => {
      if (kind === CommandKind.RESTART && !hasCapability(agent, AgentCapabilities.AgentCapabilities_AcceptsRestartCommand)) {
        throw new AgentCannotError(uid, "does not accept restart commands (no AcceptsRestartCommand capability)");
      }
      const command = queueCommand(agent, kind, { commandId, requestedBy, now: this.now() });
      return { persist: "now", result: { agent: clone(AgentSchema, agent), command } };
    });
    const pushed = await this.pushIfConnected(agent);
    await this.deps.audit.record({
      id: command.id,
      instanceUid: uid,
      kind: kind === CommandKind.RESTART ? "restart" : "report_full_state",
      configHash: "",
      requestedBy,
    });
    return { command, pushed };
  }

  /** Queues a custom message for an agent that declared the capability; pushed when connected, audited. */
  async sendCustomMessage(uid: string, message: CustomMessage, requestedBy: string): Promise<{ command: AgentCommand; pushed: boolean }> {
    if (!message.capability) throw new InvalidRequestError("a custom message needs a capability");
    const commandId = newCommandId(this.now());
    const { agent, command } = await this.mutate(uid, { create: false }, (agent) => {
      if (!hasCustomCapability(agent, message.capability)) {
        throw new AgentCannotError(uid, `did not declare the custom capability "${message.capability}"`);
      }
      const command = queueCustomMessage(agent, message, { commandId, requestedBy, now: this.now() });
      return { persist: "now", result: { agent: clone(AgentSchema, agent), command } };
    });
    const pushed = await this.pushIfConnected(agent);
    await this.deps.audit.record({ id: command.id, instanceUid: uid, kind: "custom_message", configHash: "", requestedBy });
    return { command, pushed };
  }

  /** Offers connection settings: stored, pushed when connected, audited. */
  async setConnectionSettings(uid: string, offers: ConnectionSettingsOffers, requestedBy: string): Promise<{ agent: Agent; command: AgentCommand; pushed: boolean }> {
    return this.offer(uid, requestedBy, "connection_settings", (agent, options) => applyConnectionSettings(agent, offers, options));
  }

  /** Offers a package set (replacing the previous one): stored, pushed when connected, audited. */
  async setPackagesAvailable(uid: string, packages: Record<string, PackageAvailable>, requestedBy: string): Promise<{ agent: Agent; command: AgentCommand; pushed: boolean }> {
    return this.offer(uid, requestedBy, "packages", (agent, options) => {
      if (!hasCapability(agent, AgentCapabilities.AgentCapabilities_AcceptsPackages)) {
        throw new AgentCannotError(uid, "does not accept packages (no AcceptsPackages capability)");
      }
      return applyPackagesAvailable(agent, packages, options);
    });
  }

  private async offer(
    uid: string,
    requestedBy: string,
    kind: "connection_settings" | "packages" | "client_certificate" | "certificate_refusal",
    apply: (agent: Agent, options: { commandId: string; requestedBy: string; now: number }) => { command: AgentCommand; transitions: CommandTransition[] },
  ): Promise<{ agent: Agent; command: AgentCommand; pushed: boolean }> {
    const commandId = newCommandId(this.now());
    const { agent, command } = await this.mutate(uid, { create: false }, (agent) => {
      const { command, transitions } = apply(agent, { commandId, requestedBy, now: this.now() });
      return { persist: "now", result: { agent: clone(AgentSchema, agent), command }, transitions };
    });
    const pushed = await this.pushIfConnected(agent);
    await this.deps.audit.record({ id: command.id, instanceUid: uid, kind, configHash: hexOf(command.configHash), requestedBy });
    return { agent, command, pushed };
  }

  /** Calls `listener` with a copy of every agent after each stored change. */
  watch(listener: (agent: Agent) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  /** Writes liveness-only changes kept in memory. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const uids = [...this.dirty];
      let next = 0;
      const worker = async () => {
        while (next < uids.length) await this.flushOne(uids[next++]!);
      };
      await Promise.all(Array.from({ length: Math.min(FLUSH_CONCURRENCY, uids.length) }, worker));
    });
    return this.flushing;
  }

  /**
   * Writes one agent's liveness without holding its lock during the write, so
   * reports never wait for a slow database: a snapshot is taken under the
   * lock, written outside it, and the cached revision advanced only if nobody
   * stored the agent meanwhile. If someone did, one of the two writes meets a
   * revision conflict: theirs is retried on a fresh copy (mutate), ours is
   * dropped because their copy already carried the newer liveness.
   */
  private async flushOne(uid: string): Promise<void> {
    const taken = await this.mutex.run(uid, async () => {
      const agent = this.cache.get(uid);
      if (!agent || !this.dirty.has(uid)) return undefined;
      this.dirty.delete(uid);
      return { agent, snapshot: clone(AgentSchema, agent) };
    });
    if (!taken) return;
    const expected = taken.snapshot.revision;
    try {
      await this.save(taken.snapshot);
    } catch (err) {
      if (err instanceof RevisionConflictError) return;
      this.deps.logger.warn({ agent: uid, err: String(err) }, "could not write agent liveness; will retry on the next flush");
      await this.mutex.run(uid, async () => {
        if (this.cache.get(uid) === taken.agent) this.dirty.add(uid);
      });
      return;
    }
    await this.mutex.run(uid, async () => {
      if (this.cache.get(uid) === taken.agent && taken.agent.revision === expected) taken.agent.revision = expected + 1n;
    });
  }

  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flush();
  }

  /** Number of agents held in memory (for metrics and tests). */
  get cachedAgents(): number {
    return this.cache.size;
  }

  private isDuplicate(agent: Agent, connection: Connection, msg: AgentToServer): boolean {
    const s = agent.status;
    if (!s?.connected || s.connectionId === connection.id) return false;
    if (s.connectionType !== ConnectionType.WEBSOCKET || connection.type !== ConnectionType.WEBSOCKET) return false;
    // An agent that reconnects carries on counting; a second instance using
    // the same UID has its own count. Only the latter is a duplicate.
    return msg.sequenceNum !== s.sequenceNum + 1n;
  }

  private assignNewInstanceUid(oldUid: Uint8Array, why: string): ServerToAgent {
    const newInstanceUid = uuidv7Bytes(this.now());
    this.deps.logger.info({ agent: instanceUidToHex(oldUid), newAgent: instanceUidToHex(newInstanceUid), why }, "assigning a new instance UID");
    return create(ServerToAgentSchema, {
      instanceUid: oldUid,
      capabilities: this.capabilities,
      agentIdentification: { newInstanceUid },
      // The agent must tell us everything again under its new identity.
      flags: BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState),
    });
  }

  private deliver(agent: Agent, commandIds: string[]): CommandTransition[] {
    markDelivered(agent, commandIds, this.now());
    return commandIds.map((commandId) => ({ commandId, to: "delivered" as const, detail: "" }));
  }

  private async pushIfConnected(agent: Agent): Promise<boolean> {
    const s = agent.status;
    if (!s?.connected || s.connectionType !== ConnectionType.WEBSOCKET) return false;
    const uid = instanceUidToHex(agent.metadata!.instanceUid);
    return this.deps.push.publish(s.gatewayId, { instanceUid: uid, connectionId: s.connectionId });
  }

  /**
   * Load (cache first), apply `change`, store as it asks, retrying on a
   * revision conflict with a fresh copy from the store. On any failure the
   * cached copy is dropped, so memory never holds what the store refused.
   */
  private mutate<T>(
    uid: string,
    options: { create: boolean; fresh?: boolean },
    change: (agent: Agent, known: boolean) => { persist: Persist; result: T; records?: AuditedCommand[]; transitions?: CommandTransition[]; evict?: boolean },
  ): Promise<T> {
    return this.mutex.run(uid, async () => {
      for (let attempt = 0; ; attempt++) {
        const cached = attempt === 0 ? this.cache.get(uid) : undefined;
        let agent = cached && options.fresh ? newest(cached, await this.deps.agents.get(uid)) : cached;
        agent ??= await this.deps.agents.get(uid);
        const known = agent !== undefined;
        if (!agent) {
          if (!options.create) throw new AgentNotFoundError(uid);
          agent = newAgent(Buffer.from(uid, "hex"), this.now());
        }
        try {
          const out = change(agent, known);
          if (out.persist === "now") {
            await this.save(agent);
            this.dirty.delete(uid);
          } else if (out.persist === "later") {
            this.dirty.add(uid);
          }
          if (out.evict) {
            this.evict(uid);
          } else if (agent.status?.connected) {
            this.cache.set(uid, agent);
          }
          if (out.persist === "now") this.notify(agent);
          // New commands are recorded before their transitions (the audit
          // keeps one ordered chain per command id).
          for (const r of out.records ?? []) void this.deps.audit.record(r);
          if (out.transitions?.length) this.audit(uid, out.transitions);
          return out.result;
        } catch (err) {
          this.evict(uid);
          if (err instanceof RevisionConflictError && attempt < 3) continue;
          throw err;
        }
      }
    });
  }

  private async save(agent: Agent): Promise<void> {
    await this.deps.agents.save(agent);
  }

  private evict(uid: string): void {
    this.cache.delete(uid);
    this.dirty.delete(uid);
  }

  private notify(agent: Agent): void {
    if (this.watchers.size === 0) return;
    const copy = clone(AgentSchema, agent);
    for (const w of this.watchers) w(copy);
  }

  private audit(uid: string, transitions: CommandTransition[]): void {
    for (const t of transitions) void this.deps.audit.transition(uid, t);
  }
}

/**
 * The cached copy unless the store holds a newer revision (written by another
 * replica). The cached copy may carry liveness not yet flushed; the newer
 * stored copy keeps it when the cache saw the agent last.
 */
function newest(cached: Agent, stored: Agent | undefined): Agent {
  if (!stored || stored.revision <= cached.revision) return cached;
  const c = cached.status;
  const s = stored.status;
  if (c && s && c.connectionId === s.connectionId && c.sequenceNum > s.sequenceNum) {
    s.sequenceNum = c.sequenceNum;
    if (c.lastSeenAt) s.lastSeenAt = c.lastSeenAt;
  }
  return stored;
}

function tlsCertificateOf(issued: IssuedCertificate): TLSCertificate {
  // No private key: the agent generated it and keeps it (spec, CSR flow step 7).
  return create(TLSCertificateSchema, { cert: new TextEncoder().encode(issued.certificatePem), caCert: new TextEncoder().encode(issued.caCertificatePem) });
}

const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

function newCommandId(now: number): string {
  return instanceUidToHex(uuidv7Bytes(now));
}
