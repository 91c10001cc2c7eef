import { clone } from "@bufbuild/protobuf";
import { AgentSchema, CommandKind, ConnectionType, type Agent, type AgentCommand } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import {
  AgentCapabilities,
  type AgentConfigMap,
  type ConnectionSettingsOffers,
  type CustomMessage,
  type PackageAvailable,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { DependencyUnavailableError, instanceUidToHex, type PushBus } from "@fleetplane/platform";
import type { CertificateOffers } from "../certificates/certificate-requests.js";
import type { IssuedCertificate } from "../certificates/certificate-signer.js";
import type { PackageOfferPort } from "../packages/package-registry.js";
import type { GroupCatalog, GroupSnapshot } from "../fleet/group-catalog.js";
import { validateLabels } from "../fleet/agent-labels.js";
import { DEFAULT_NAMESPACE } from "../fleet/resource-names.js";
import { AgentCannotError, AgentConnectedError, AgentNotFoundError, InvalidRequestError } from "./agent-errors.js";
import { applyRemoteConfig, hasCapability, hasCustomCapability, queueCertificateRefusal, queueCommand, queueCustomMessage, type CommandTransition } from "./agent-model.js";
import { namespaceOf } from "./agent-namespace.js";
import { disconnectedSince } from "./disconnected-since.js";
import { clearOwnConfig, markOwnConfig, pinVersion, type RolloutPin } from "./config-assignment.js";
import { joinGroup } from "./group-membership.js";
import type { ReplicaNotices } from "./replica-notices.js";
import type { AgentStore } from "./agent-store.js";
import { auditedCommand, type AuditedCommand, type CommandAuditPort } from "./command-audit-port.js";
import { newCommandId } from "./command-id.js";
import { applyCertificateOffer, applyConnectionSettings, applyPackagesAvailable, tlsCertificateOf } from "./offers.js";

export interface AdminCommandsOptions {
  store: AgentStore;
  audit: CommandAuditPort;
  push: PushBus;
  /** The OpAMP URL offered with a certificate to an agent without OpAMP settings of its own (see CertificateDesk). */
  opampEndpoint?: () => string;
  /** The groups of each namespace; without it agents get no group configuration. */
  groups?: GroupCatalog;
  /** Tells the other agent-service replicas which agents changed (none: a single replica). */
  replicas?: ReplicaNotices;
  /** Told about each agent removed from the store, and why (the removals metric, group status counts). */
  removed?: (reason: AgentRemovalReason, uid: string) => void;
  /**
   * Asked to reconcile the agent's audit records later (AgentReports.reconcileLater)
   * when a change of it failed on an unavailable store: the write may still
   * land (a timed-out write the database applied after all), and then the
   * agent holds a command whose record the failed call never queued. None:
   * only the agent's next reconnect reconciles it.
   */
  reconcile?: (uid: string) => void;
  now?: () => number;
}

/** Why an agent left the store: an admin's DeleteAgent, or retention (disconnected too long). */
export type AgentRemovalReason = "deleted" | "retention";

/** What pinning a rollout's version on one agent did, or why it was left alone. */
export type PinOutcome = "pinned" | "unchanged" | "gone" | "not in the group" | "own configuration";

/** What applying a command to an agent yields: the command, and what it did to older ones (superseded). */
type Applied = { command: AgentCommand; transitions?: CommandTransition[] };
type CommandOptions = { commandId: string; requestedBy: string; now: number };

/**
 * What a change to one agent yields for the audit trail: the records of what
 * it queued or did, and what it did to older commands. `deliver`: something
 * was queued for the agent (its gateway is told); `unchanged`: nothing to store.
 */
type Changed = { records: AuditedCommand[]; transitions: CommandTransition[]; deliver: boolean; unchanged?: boolean };
/**
 * Where the change applies: create a new agent (in `namespace`), or only touch one of `namespace` (undefined: any).
 * `fresh`: read the agent from the store even when cached (another replica may have written it since).
 */
type Target = { create: boolean; namespace: string | undefined; groups?: boolean; fresh?: boolean };

/** What every admin command answers: the agent as stored, the command, and whether its gateway was told at once. */
export interface CommandResult {
  agent: Agent;
  command: AgentCommand;
  pushed: boolean;
}

/** What a change without a command of its own answers (labels, clearing a config): its audit id. */
export interface ChangeResult {
  agent: Agent;
  commandId: string;
  pushed: boolean;
}

/**
 * The SendCommand flow of the design, for every kind of command an admin
 * (or an approved certificate request, or a group) gives an agent. All go
 * through one function, `change`, so they cannot differ in the sequence that
 * matters: the change is stored, then the agent's gateway is told, then the
 * command is recorded in the audit trail.
 *
 * `namespace`: the namespace the admin named; an agent of another namespace
 * is not found (undefined: internal callers, any namespace).
 */
export class AdminCommands implements CertificateOffers, PackageOfferPort {
  private readonly now: () => number;

  constructor(private readonly deps: AdminCommandsOptions) {
    this.now = deps.now ?? Date.now;
  }

  /** A remote configuration, the agent's own (it wins over groups); an agent not yet known is created in `namespace`, so its config waits for it. */
  async setRemoteConfig(uid: string, config: AgentConfigMap, requestedBy: string, namespace: string = DEFAULT_NAMESPACE): Promise<CommandResult> {
    if (Object.keys(config.configMap).length === 0) throw new InvalidRequestError("a remote config needs at least one file");
    return this.command(uid, requestedBy, { create: true, namespace }, (agent, options) => {
      const applied = applyRemoteConfig(agent, config, options);
      markOwnConfig(agent);
      return applied;
    });
  }

  /** Restart or report-full-state. */
  async sendCommand(uid: string, kind: CommandKind, requestedBy: string, namespace?: string): Promise<CommandResult> {
    if (kind !== CommandKind.RESTART && kind !== CommandKind.REPORT_FULL_STATE) {
      throw new InvalidRequestError("SendCommand takes COMMAND_KIND_RESTART or COMMAND_KIND_REPORT_FULL_STATE; use SetRemoteConfig for configurations");
    }
    return this.command(uid, requestedBy, { create: false, namespace }, (agent, options) => {
      if (kind === CommandKind.RESTART && !hasCapability(agent, AgentCapabilities.AgentCapabilities_AcceptsRestartCommand)) {
        throw new AgentCannotError(uid, "does not accept restart commands (no AcceptsRestartCommand capability)");
      }
      return { command: queueCommand(agent, kind, options) };
    });
  }

  /** A custom message, for an agent that declared the capability. */
  async sendCustomMessage(uid: string, message: CustomMessage, requestedBy: string, namespace?: string): Promise<CommandResult> {
    if (!message.capability) throw new InvalidRequestError("a custom message needs a capability");
    return this.command(uid, requestedBy, { create: false, namespace }, (agent, options) => {
      if (!hasCustomCapability(agent, message.capability)) {
        throw new AgentCannotError(uid, `did not declare the custom capability "${message.capability}"`);
      }
      return { command: queueCustomMessage(agent, message, options) };
    });
  }

  /** Connection settings offers. */
  async setConnectionSettings(uid: string, offers: ConnectionSettingsOffers, requestedBy: string, namespace?: string): Promise<CommandResult> {
    return this.command(uid, requestedBy, { create: false, namespace }, (agent, options) => applyConnectionSettings(agent, offers, options));
  }

  /** A package set, replacing the previous one. */
  async setPackagesAvailable(uid: string, packages: Record<string, PackageAvailable>, requestedBy: string, namespace?: string): Promise<CommandResult> {
    return this.command(uid, requestedBy, { create: false, namespace }, (agent, options) => {
      if (!hasCapability(agent, AgentCapabilities.AgentCapabilities_AcceptsPackages)) {
        throw new AgentCannotError(uid, "does not accept packages (no AcceptsPackages capability)");
      }
      return applyPackagesAvailable(agent, packages, options);
    });
  }

  /** The certificate of an approved CSR, offered through the OpAMP connection settings. */
  async offerCertificate(uid: string, issued: IssuedCertificate, requestedBy: string): Promise<CommandResult> {
    const endpoint = this.deps.opampEndpoint?.() ?? "";
    return this.command(uid, requestedBy, { create: false, namespace: undefined }, (agent, options) => {
      if (agent.status) delete agent.status.connectionSettingsRequest;
      return applyCertificateOffer(agent, tlsCertificateOf(issued), endpoint, options);
    });
  }

  /** Tells the agent its CSR was denied (error_response BAD_REQUEST, once). */
  async refuseCertificateRequest(uid: string, reason: string, requestedBy: string): Promise<CommandResult> {
    return this.command(uid, requestedBy, { create: false, namespace: undefined }, (agent, options) => {
      if (agent.status) delete agent.status.connectionSettingsRequest;
      return { command: queueCertificateRefusal(agent, reason, options) };
    });
  }

  /** Replaces the agent's admin labels; it moves to the group they select (audited as "labels"). */
  async setLabels(uid: string, labels: Record<string, string>, requestedBy: string, namespace: string): Promise<ChangeResult> {
    validateLabels(labels);
    const commandId = newCommandId(this.now());
    const done = await this.change(uid, { create: false, namespace, groups: true }, (agent, snapshot) => {
      agent.metadata!.labels = { ...labels };
      const record: AuditedCommand = { id: commandId, instanceUid: uid, kind: "labels", configHash: "", requestedBy, namespace: namespaceOf(agent), done: true };
      return this.withGroupChoice(agent, snapshot, [record], []);
    });
    return { agent: done.agent, commandId, pushed: done.pushed };
  }

  /** Removes the agent's own config: it falls back to its group's, or to none (audited as "remote_config_cleared"). */
  async clearRemoteConfig(uid: string, requestedBy: string, namespace: string): Promise<ChangeResult> {
    const commandId = newCommandId(this.now());
    const done = await this.change(uid, { create: false, namespace, groups: true }, (agent, snapshot) => {
      const transitions = clearOwnConfig(agent);
      const record: AuditedCommand = { id: commandId, instanceUid: uid, kind: "remote_config_cleared", configHash: "", requestedBy, namespace: namespaceOf(agent), done: true };
      return this.withGroupChoice(agent, snapshot, [record], transitions);
    });
    return { agent: done.agent, commandId, pushed: done.pushed };
  }

  /**
   * DeleteAgent: removes the agent and records it (audited as
   * "agent_deleted"). Its commands' records that are still open settle as
   * SUPERSEDED: nothing will deliver or confirm them any more. A connected
   * agent is refused unless `force`; then its gateway is told to close its
   * WebSocket. An HTTP agent has no connection to close: its next poll
   * makes it a new agent, as would any agent that connects again.
   */
  async deleteAgent(uid: string, requestedBy: string, namespace: string, force: boolean): Promise<{ commandId: string; connectionClosed: boolean }> {
    const done = await this.remove(uid, requestedBy, "deleted", (agent) => {
      if (namespaceOf(agent) !== namespace) throw new AgentNotFoundError(uid);
      const s = agent.status;
      if (s?.connected && !force) throw new AgentConnectedError(uid, "disconnect it first, or delete with force (its connection is closed)");
      const liveSocket = s?.connected && s.connectionType === ConnectionType.WEBSOCKET ? { gatewayId: s.gatewayId, connectionId: s.connectionId } : undefined;
      return { result: { liveSocket, namespace: namespaceOf(agent) }, transitions: supersededByRemoval(agent) };
    });
    // Never undefined: the decision above removes or throws.
    const socket = done!.removed.liveSocket;
    const connectionClosed = socket ? await this.deps.push.publish(socket.gatewayId, { instanceUid: uid, connectionId: socket.connectionId, close: true }) : false;
    return { commandId: done!.commandId, connectionClosed };
  }

  /**
   * Retention: removes the agent as DeleteAgent does (audited as
   * "agent_deleted" by `requestedBy`, its open records SUPERSEDED) if it is
   * still not connected since before `before`, as read fresh under its lock.
   * One that reconnected, or disconnected again later, meanwhile is kept.
   * False when kept or already gone (another replica's sweep removed it).
   */
  async removeDisconnected(uid: string, before: number, requestedBy: string): Promise<boolean> {
    try {
      const done = await this.remove(uid, requestedBy, "retention", (agent) => {
        const since = disconnectedSince(agent);
        if (since === undefined || since >= before) return undefined;
        return { result: { namespace: namespaceOf(agent) }, transitions: supersededByRemoval(agent) };
      });
      return done !== undefined;
    } catch (err) {
      if (err instanceof AgentNotFoundError) return false;
      throw err;
    }
  }

  /** The one way agents leave the store: removed under the agent's lock, then recorded in the audit trail and counted. */
  private async remove<T extends { namespace: string }>(
    uid: string,
    requestedBy: string,
    reason: AgentRemovalReason,
    decide: (agent: Agent) => { result: T; transitions: CommandTransition[] } | undefined,
  ): Promise<{ commandId: string; removed: T } | undefined> {
    const commandId = newCommandId(this.now());
    const removed = await this.deps.store.remove(uid, decide);
    if (removed === undefined) return undefined;
    await this.deps.store.record({ id: commandId, instanceUid: uid, kind: "agent_deleted", configHash: "", requestedBy, namespace: removed.namespace, done: true });
    this.deps.removed?.(reason, uid);
    return { commandId, removed };
  }

  /**
   * Applies the namespace's groups (as of `snapshot`) to one agent after a
   * group changed; true when the agent's desired config moved. An agent that
   * is gone or moved namespace meanwhile is left alone.
   */
  async reassign(uid: string, snapshot: GroupSnapshot): Promise<boolean> {
    try {
      const done = await this.changeCopying(uid, { create: false, namespace: snapshot.namespace }, (agent) => this.withGroupChoice(agent, snapshot, [], []), false);
      return done.changed;
    } catch (err) {
      if (err instanceof AgentNotFoundError) return false;
      throw err;
    }
  }

  /**
   * Gives one agent of a group the version a rollout assigned it (a stage,
   * a rollback): stored, its gateway told, the command audited like any
   * other. Repeating it changes nothing, so a replica taking a rollout over
   * can pin a stage's agents again. Says why an agent was left alone.
   * Called on the replica that serves the agent, or for an agent no replica
   * serves (rollouts/pin-routing.ts decides which).
   */
  async pinRollout(uid: string, namespace: string, pin: RolloutPin, requestedBy: string): Promise<PinOutcome> {
    let outcome: PinOutcome = "unchanged";
    try {
      const done = await this.changeCopying(uid, { create: false, namespace }, (agent) => {
        const pinned = this.pinChange(uid, namespace, agent, pin, requestedBy);
        outcome = pinned.outcome;
        return pinned.changed;
      }, false);
      // Written for an agent this replica does not serve: whatever the push
      // did (none is sent to an agent the store thinks disconnected), a
      // replica that starts serving it meanwhile must read it again.
      if (done.changed && !this.deps.store.serves(uid)) await this.deps.replicas?.changed(uid, done.reach.connectionId);
    } catch (err) {
      if (err instanceof AgentNotFoundError) return "gone";
      throw err;
    }
    return outcome;
  }

  /**
   * pinRollout for a batch of agents of `namespace` (a stage's, or the part
   * of one this replica serves): the same change on each, but the agents
   * are read in one store read (those not cached here), written in one
   * batch (AgentStore.mutateMany: one bulkWrite, one LMDB transaction), then
   * their gateways told and their commands recorded (the audit takes them in
   * batches). An agent whose write met a conflict is pinned again alone,
   * read afresh. Answers each agent's outcome, or the error it met (the
   * driver pins it again while its stored copy lacks the pin); rejects
   * when the store failed.
   */
  async pinRollouts(uids: readonly string[], namespace: string, pin: RolloutPin, requestedBy: string): Promise<Map<string, PinOutcome | Error>> {
    const recorded: Array<Promise<unknown>> = [];
    const results = await this.deps.store.mutateMany(uids, (agent) => {
      const uid = instanceUidToHex(agent.metadata!.instanceUid);
      if (namespaceOf(agent) !== namespace) throw new AgentNotFoundError(uid);
      const { outcome, changed } = this.pinChange(uid, namespace, agent, pin, requestedBy);
      const result = { outcome, reach: reachOf(uid, agent), deliver: changed.deliver, revision: 0n };
      if (changed.unchanged) return { persist: "no", result };
      return {
        persist: "now",
        result,
        transitions: changed.transitions,
        // Under the agent's lock, as `change` queues them (see there).
        stored: () => {
          result.revision = agent.revision;
          recorded.push(Promise.all(changed.records.map((r) => this.deps.store.record(r))));
        },
      };
    });
    const outcomes = new Map<string, PinOutcome | Error>();
    const told: Array<Promise<unknown>> = [];
    for (const [uid, r] of results) {
      if (r instanceof Error) {
        this.failedMayHaveStored(uid, r);
        outcomes.set(uid, r instanceof AgentNotFoundError ? "gone" : r);
        continue;
      }
      outcomes.set(uid, r.outcome);
      if (r.revision === 0n) continue;
      if (r.deliver) told.push(this.notice(r.reach, r.revision));
      // As pinRollout: a replica that starts serving it meanwhile must read it again.
      if (!this.deps.store.serves(uid)) told.push(this.deps.replicas?.changed(uid, r.reach.connectionId) ?? Promise.resolve());
    }
    await Promise.all(told);
    await Promise.all(recorded);
    return outcomes;
  }

  /** The one rule of a rollout's pin on an agent (pinVersion), as a change: what it did, and what to store and record. */
  private pinChange(uid: string, namespace: string, agent: Agent, pin: RolloutPin, requestedBy: string): { outcome: PinOutcome; changed: Changed } {
    const pinned = pinVersion(agent, pin, { now: this.now(), commandId: () => newCommandId(this.now()), requestedBy });
    if (typeof pinned === "string") return { outcome: pinned, changed: { records: [], transitions: [], deliver: false, unchanged: true } };
    const records = pinned.command ? [auditedCommand(uid, pinned.command, namespace)] : [];
    return { outcome: pinned.changed ? "pinned" : "unchanged", changed: { records, transitions: pinned.transitions, deliver: pinned.command !== undefined, unchanged: !pinned.changed } };
  }

  /** Adds the group choice to a change: a group config command queued, and its audit record. */
  private withGroupChoice(agent: Agent, snapshot: GroupSnapshot | undefined, records: AuditedCommand[], transitions: CommandTransition[]): Changed {
    const joined = snapshot ? joinGroup(agent, snapshot, this.now()) : undefined;
    if (!joined) return { records, transitions, deliver: false, unchanged: records.length === 0 && transitions.length === 0 };
    return {
      records: [...records, ...joined.records],
      transitions: [...transitions, ...joined.transitions],
      deliver: joined.records.length > 0,
      unchanged: !joined.changed && records.length === 0 && transitions.length === 0,
    };
  }

  /** One command with its own audit record (of the kind the command says: command-audit-port.ts auditKindOf): see `change`. */
  private async command(uid: string, requestedBy: string, target: Target, apply: (agent: Agent, options: CommandOptions) => Applied): Promise<CommandResult> {
    const commandId = newCommandId(this.now());
    let command: AgentCommand | undefined;
    const done = await this.change(uid, target, (agent) => {
      const applied = apply(agent, { commandId, requestedBy, now: this.now() });
      command = applied.command;
      return { records: [auditedCommand(uid, applied.command, namespaceOf(agent))], transitions: applied.transitions ?? [], deliver: true };
    });
    return { agent: done.agent, command: command!, pushed: done.pushed };
  }

  /**
   * change → store → notice → audit, the one sequence every command takes.
   * The change is applied and stored under the agent's lock (retried on a
   * revision conflict); its audit records are queued as soon as it is
   * stored, under the same lock, so no "delivered" can overtake them; only a
   * stored command is announced to the agent's gateway. The call waits for
   * the first attempt of the audit writes (a healthy command-service answers
   * before the admin does; a sick one is retried in the background).
   * `target.groups`: the namespace's groups are read first (under the lock)
   * and handed to the change.
   */
  private async change(uid: string, target: Target, apply: (agent: Agent, snapshot: GroupSnapshot | undefined) => Changed): Promise<{ agent: Agent; pushed: boolean; changed: boolean }> {
    const done = await this.changeCopying(uid, target, apply, true);
    return { agent: done.copy!, pushed: done.pushed, changed: done.changed };
  }

  /**
   * `change` for callers that need no copy of the agent (a group change's
   * reassignments, thousands at a time): only where it is connected is kept.
   */
  private async changeCopying(
    uid: string,
    target: Target,
    apply: (agent: Agent, snapshot: GroupSnapshot | undefined) => Changed,
    copy: boolean,
  ): Promise<{ copy: Agent | undefined; reach: Reach; pushed: boolean; changed: boolean }> {
    let recorded: Promise<unknown> = Promise.resolve();
    /** The revision the change was stored at (the push names it: see notice). */
    let revision = 0n;
    let snapshot: GroupSnapshot | undefined;
    const catalog = target.groups ? this.deps.groups : undefined;
    const stored = await this.mayHaveStored(uid, () =>
      this.deps.store.mutate(
        uid,
        {
          create: target.create,
          ...(target.fresh ? { fresh: true } : {}),
          ...(catalog ? { before: async (agent: Agent | undefined) => void (snapshot = await catalog.snapshot(agent ? namespaceOf(agent) : (target.namespace ?? DEFAULT_NAMESPACE))) } : {}),
        },
        (agent, known) => {
          if (!known) agent.metadata!.namespace = target.namespace ?? DEFAULT_NAMESPACE;
          else if (target.namespace !== undefined && namespaceOf(agent) !== target.namespace) throw new AgentNotFoundError(uid);
          const changed = apply(agent, snapshot);
          const taken = { copy: copy ? clone(AgentSchema, agent) : undefined, reach: reachOf(uid, agent) };
          if (changed.unchanged) return { persist: "no", result: { ...taken, deliver: false, changed: false } };
          return {
            persist: "now",
            result: { ...taken, deliver: changed.deliver, changed: true },
            transitions: changed.transitions,
            // Queued under the agent's lock, so the audit has the record before
            // any reply or pull can mark the command delivered.
            stored: () => {
              revision = agent.revision;
              recorded = Promise.all(changed.records.map((r) => this.deps.store.record(r)));
            },
          };
        },
      ),
    );
    const pushed = stored.deliver ? await this.notice(stored.reach, revision) : false;
    await recorded;
    return { copy: stored.copy, reach: stored.reach, pushed, changed: stored.changed };
  }

  /** Runs a change of the agent; a failure is passed to failedMayHaveStored, then rethrown. */
  private async mayHaveStored<T>(uid: string, change: () => Promise<T>): Promise<T> {
    try {
      return await change();
    } catch (err) {
      this.failedMayHaveStored(uid, err);
      throw err;
    }
  }

  /**
   * A change of the agent failed. On an unavailable store its write may land
   * all the same (the database applied it, the answer was lost or came too
   * late) while its `stored` hook never ran: the agent would hold a command
   * the audit trail has no record of. Its audit reconciliation is asked for,
   * to write the record if the change landed.
   */
  private failedMayHaveStored(uid: string, err: unknown): void {
    if (err instanceof DependencyUnavailableError) this.deps.reconcile?.(uid);
  }

  /**
   * Tells the gateway holding the agent's WebSocket to pull. HTTP agents get
   * the command on their next poll, from whichever replica serves it: every
   * replica is told, so one that caches the agent reads the change first.
   */
  private async notice(reach: Reach, revision: bigint): Promise<boolean> {
    if (!reach.connected) return false;
    if (reach.connectionType !== ConnectionType.WEBSOCKET) {
      await this.deps.replicas?.changed(reach.uid, reach.connectionId);
      return false;
    }
    // With the revision it was stored at, the pull needs no read of the agent when the replica it reaches wrote the change.
    return this.deps.push.publish(reach.gatewayId, { instanceUid: reach.uid, connectionId: reach.connectionId, ...(revision > 0n ? { revision: String(revision) } : {}) });
  }
}

/** Where an agent is connected, as of a change: what telling its gateway needs. */
interface Reach {
  uid: string;
  connected: boolean;
  connectionType: ConnectionType;
  gatewayId: string;
  connectionId: string;
}

function reachOf(uid: string, agent: Agent): Reach {
  const s = agent.status;
  return { uid, connected: s?.connected === true, connectionType: s?.connectionType ?? ConnectionType.UNSPECIFIED, gatewayId: s?.gatewayId ?? "", connectionId: s?.connectionId ?? "" };
}

/** A removed agent's commands: nothing will deliver or confirm them any more. */
function supersededByRemoval(agent: Agent): CommandTransition[] {
  return agent.commands.map((c) => ({ commandId: c.id, to: "superseded" as const, detail: "the agent was deleted" }));
}
