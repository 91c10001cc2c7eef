import { clone } from "@bufbuild/protobuf";
import { AgentSchema, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { FleetSummary } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { asError, LogRateLimit, runBounded, instanceUidToHex, ownBytes, type Logger } from "@fleetplane/platform";
import { AgentNotFoundError } from "./agent-errors.js";
import { newAgent, type CommandTransition } from "./agent-model.js";
import { namespaceOf } from "./agent-namespace.js";
import { RevisionConflictError, type AgentQuery, type AgentRepository, type DisconnectedQuery } from "./agent-repository.js";
import type { AuditedCommand, CommandAuditPort } from "./command-audit-port.js";
import { KeyedMutex } from "./keyed-mutex.js";
import { SharedValues } from "./shared-values.js";
import { auditCorrections } from "./audit-reconciliation.js";

export interface AgentStoreOptions {
  agents: AgentRepository;
  /** Told about the commands and transitions a change carries, in the agent's lock order. */
  audit: CommandAuditPort;
  logger: Logger;
  now?: () => number;
  /**
   * Messages that only prove liveness (sequence number, last seen) are kept in
   * memory and written in one batch this often, instead of one write each.
   * Default 5 s.
   */
  livenessFlushMs?: number;
  /**
   * The longest an agent's stored liveness may lag behind its heartbeats
   * (default 120 s): a heartbeat is queued for the next batch only when the
   * agent's liveness was last written longer ago than this. At the spec's
   * 30 s heartbeat that is one write in four, and the store's load from an
   * idle fleet no longer grows with how often agents beat. What waits in
   * memory: the last-seen time and sequence number, which a change or a
   * disconnect writes at once anyway; a replica that takes an agent over
   * after a crash then sees a gap in its sequence numbers and asks it for
   * its full state, as the spec has it.
   */
  livenessWriteMs?: number;
}

/** Default of AgentStoreOptions.livenessWriteMs. */
export const DEFAULT_LIVENESS_WRITE_MS = 120_000;

/**
 * now: written before the caller goes on; soon: written by the next batch
 * (livenessFlushMs) unless a write of the agent comes first — for a change
 * the agent's next report writes anyway and whose loss in a crash costs
 * nothing but a repeat (a config marked delivered: sent again, and the
 * agent already has it); later: liveness only, written in the next batch
 * once livenessWriteMs has passed; no: nothing to write.
 */
export type Persist = "now" | "soon" | "later" | "no";

/** What a change to one agent asks of the store. */
export interface AgentChange<T> {
  persist: Persist;
  /** Handed back to the caller of mutate. */
  result: T;
  /**
   * Runs once the change is stored, still under the agent's lock and before
   * `transitions` are audited: where a new command is recorded in the audit
   * trail. Whatever delivers the command (a reply, a pull) needs this lock
   * after us, so its "delivered" transition is queued behind the record by
   * construction, not by timing.
   */
  stored?: () => void;
  transitions?: CommandTransition[];
  /** Drop the agent from memory (it is no longer connected here). */
  evict?: boolean;
}

/** Liveness writes in flight at once during a flush. */
const FLUSH_CONCURRENCY = 32;

/**
 * Where agent-service keeps agents: the repository, with the agents this
 * replica serves (their reports come here) cached in memory so a status
 * report costs no database read. Every change goes through mutate, under the
 * agent's lock: a change that matters is written at once (and waited for), a
 * heartbeat's liveness in a later batch (livenessWriteMs). Reads and watchers see the
 * freshest copy.
 *
 * One writer at a time per agent in this process: a change's write and a
 * liveness batch's write of the same agent go one after the other (the
 * store's revision check is not trusted to order two writes in flight —
 * FerretDB 1.x was seen to let both succeed). Across replicas, the replica
 * serving an agent is its writer for rollouts (rollouts/pin-routing.ts).
 */
export class AgentStore {
  /** Agents this replica serves: only the report path and the pulls of the agent's gateway put them here. */
  private readonly cache = new Map<string, Agent>();
  private readonly dirty = new Set<string>();
  /** When each cached agent was last written (a change or its liveness): heartbeats in between are not queued. */
  private readonly writtenAt = new Map<string, number>();
  private readonly livenessWriteMs: number;
  /** Cached agents another replica changed: read through to the store on their next change. */
  private readonly stale = new Set<string>();
  private readonly mutex = new KeyedMutex();
  /** What the cached agents report alike, one copy each (shared-values.ts). */
  private readonly shared = new SharedValues();
  /** Writes of one agent, in order (a change's and a liveness batch's; see the class comment). */
  private readonly writes = new KeyedMutex();
  private readonly watchers = new Set<(agent: Agent) => void>();
  private readonly observers = new Set<(agent: Readonly<Agent>) => void>();
  private readonly now: () => number;
  private readonly flushTimer: NodeJS.Timeout;
  /** A store that is away fails every agent's liveness write of a flush: a line per 10 s, with the count left out. */
  private readonly livenessFailures = new LogRateLimit({ intervalMs: 10_000 });
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: AgentStoreOptions) {
    this.now = deps.now ?? Date.now;
    this.livenessWriteMs = deps.livenessWriteMs ?? DEFAULT_LIVENESS_WRITE_MS;
    this.flushTimer = setInterval(() => void this.flush(), deps.livenessFlushMs ?? 5_000);
    this.flushTimer.unref();
  }

  /**
   * Load (cache first), apply `change`, store as it asks, retrying on a
   * revision conflict with a fresh copy from the store. On any failure the
   * cached copy is dropped, so memory never holds what the store refused.
   * `fresh`: read through to the store even when cached (another replica may
   * have changed the agent); a revision: only when the cached copy is older
   * than it (a change announced with the revision it was stored at, which a
   * copy this replica wrote it through already holds). `create`: a new agent when none is stored;
   * otherwise AgentNotFoundError. `before`: asynchronous work that needs the
   * loaded agent (undefined when new), done under the lock before `change`
   * (e.g. reading the groups of the agent's namespace). `serve`: the change
   * comes from the agent's own messages (its report, its gateway's pull), so
   * this replica serves it and keeps it in memory while it is connected; any
   * other change leaves nothing cached that was not (a copy of an agent
   * another replica serves would hide that replica's writes).
   */
  mutate<T>(
    uid: string,
    options: { create: boolean; fresh?: boolean | bigint; serve?: boolean; before?: (agent: Agent | undefined) => Promise<void> },
    change: (agent: Agent, known: boolean) => AgentChange<T>,
  ): Promise<T> {
    return this.mutex.run(uid, async () => {
      for (let attempt = 0; ; attempt++) {
        const cached = attempt === 0 ? this.cache.get(uid) : undefined;
        const fresh = readThrough(options.fresh, cached) || (attempt === 0 && this.stale.delete(uid));
        let agent = cached && fresh ? newest(cached, await this.deps.agents.getNewer(uid, cached.revision)) : cached;
        agent ??= await this.deps.agents.get(uid);
        const known = agent !== undefined;
        if (options.before) await options.before(agent);
        if (!agent) {
          if (!options.create) throw new AgentNotFoundError(uid);
          agent = newAgent(Buffer.from(uid, "hex"), this.now());
        }
        try {
          const out = change(agent, known);
          const keep = !out.evict && agent.status?.connected === true && (options.serve === true || this.cache.has(uid));
          // Only a cached agent is written by a batch: one not kept is written now.
          const persist = out.persist === "soon" && !keep ? "now" : out.persist;
          if (persist === "now") await this.save(uid, agent);
          else if (persist === "soon" || (persist === "later" && this.now() - (this.writtenAt.get(uid) ?? 0) >= this.livenessWriteMs)) {
            this.dirty.add(uid);
          }
          this.settle(uid, agent, cached, out, persist, keep);
          return out.result;
        } catch (err) {
          this.evict(uid);
          if (err instanceof RevisionConflictError && attempt < 3) continue;
          throw err;
        }
      }
    });
  }

  /**
   * `mutate` for a batch of stored agents (none is created), one change each:
   * what a rollout's stage pins go through. Every agent's lock is taken (in
   * uid order: see KeyedMutex.runAll); those not cached here, or marked
   * stale, are read in one store read; `change` is applied to each; those
   * to write are written in one `saveMany` (MongoDB: queued together into
   * bulkWrites; LMDB: one transaction) instead of a write each. An agent whose write met a
   * revision conflict is tried again alone through `mutate` once the
   * batch's locks are released: it is read afresh, and the others of the
   * batch do not wait for it. Nothing here makes this replica serve an
   * agent (as mutate without `serve`). A change persists "now" or "no".
   *
   * Answers each uid with the change's result, or the error that agent met
   * (AgentNotFoundError: not stored; whatever `change` threw; the store's
   * failure to write it). An agent whose write failed is dropped from
   * memory, as mutate drops one (memory never holds what the store may have
   * refused); the agents written beside it are settled as usual — their
   * `stored` hooks run (a pin's audit record and push), since the store has
   * them — and so are those the batch did not need to write.
   */
  async mutateMany<T>(uids: readonly string[], change: (agent: Agent) => AgentChange<T> & { persist: "now" | "no" }): Promise<Map<string, T | Error>> {
    const results = new Map<string, T | Error>();
    const conflicted: string[] = [];
    await this.mutex.runAll(uids, async () => {
      const unique = [...new Set(uids)];
      const read = unique.filter((uid) => !this.cache.has(uid) || this.stale.has(uid));
      const found = read.length > 0 ? await this.deps.agents.list({ instanceUids: read, limit: read.length }) : [];
      const stored = new Map(found.map((a) => [instanceUidToHex(a.metadata!.instanceUid), a]));
      const changes: Array<{ uid: string; agent: Agent; cached: Agent | undefined; out: AgentChange<T> }> = [];
      for (const uid of unique) {
        const cached = this.cache.get(uid);
        const agent = cached ? (this.stale.delete(uid) ? newest(cached, stored.get(uid)) : cached) : stored.get(uid);
        if (!agent) {
          results.set(uid, new AgentNotFoundError(uid));
          continue;
        }
        try {
          changes.push({ uid, agent, cached, out: change(agent) });
        } catch (err) {
          this.evict(uid);
          results.set(uid, asError(err));
        }
      }
      const writes = changes.filter((c) => c.out.persist === "now");
      let wrote: Array<boolean | Error>;
      try {
        wrote = writes.length > 0 ? await this.writes.runAll(writes.map((c) => c.uid), () => this.deps.agents.saveMany(writes.map((c) => c.agent))) : [];
      } catch (err) {
        const failed = asError(err);
        wrote = writes.map(() => failed);
      }
      const outcome = new Map(writes.map((c, i) => [c.uid, wrote[i]]));
      for (const c of changes) {
        if (c.out.persist === "now") {
          const w = outcome.get(c.uid);
          if (w !== true) {
            this.evict(c.uid);
            if (w instanceof Error) results.set(c.uid, w);
            else conflicted.push(c.uid);
            continue;
          }
        }
        const keep = !c.out.evict && c.agent.status?.connected === true && this.cache.has(c.uid);
        this.settle(c.uid, c.agent, c.cached, c.out, c.out.persist, keep);
        results.set(c.uid, c.out.result);
      }
    });
    await runBounded(conflicted, FLUSH_CONCURRENCY, async (uid) => {
      try {
        results.set(uid, await this.mutate(uid, { create: false }, (agent) => change(agent)));
      } catch (err) {
        results.set(uid, asError(err));
      }
    });
    return results;
  }

  /**
   * The rest of a change once it is stored (or needs no write), under the
   * agent's lock: what stays in memory, the observers and watchers, the
   * change's `stored` hook, then its transitions' audit.
   */
  private settle<T>(uid: string, agent: Agent, cached: Agent | undefined, out: AgentChange<T>, persist: Persist, keep: boolean): void {
    if (persist === "now") {
      this.dirty.delete(uid);
      this.writtenAt.set(uid, this.now());
    }
    if (out.evict) {
      this.evict(uid);
    } else if (keep) {
      // A change (or a copy just read) may hold byte arrays viewing the
      // buffer they were decoded from — a report's frame, a whole batch's
      // request body — which the cache would keep alive while the agent
      // stays connected. A heartbeat sets none: it is cached as it was.
      // What it reports alike with other cached agents (its description's
      // attributes, its effective config) is shared with them (~2 KiB less
      // per agent, §39), on the same occasions: a heartbeat brings neither.
      if (persist === "now" || persist === "soon" || agent !== cached) {
        this.shared.share(agent);
        ownBytes(agent);
      }
      this.cache.set(uid, agent);
    } else {
      this.evict(uid);
    }
    if (persist === "now") this.notify(agent);
    out.stored?.();
    if (out.transitions?.length) this.audit(uid, out.transitions);
  }

  /**
   * Removes the agent from the store, under its lock and read fresh from the
   * store (another replica may have changed it). `decide` sees the agent
   * first and may refuse by throwing, or keep it by returning undefined (then
   * so does remove); what it returns is handed back, and its transitions (the
   * agent's commands that will never be delivered) are audited once the
   * agent is gone. AgentNotFoundError when there is none.
   */
  remove<T>(uid: string, decide: (agent: Agent) => { result: T; transitions: CommandTransition[] } | undefined): Promise<T | undefined> {
    return this.mutex.run(uid, async () => {
      for (let attempt = 0; ; attempt++) {
        const cached = this.cache.get(uid);
        const agent = cached ? newest(cached, await this.deps.agents.get(uid)) : await this.deps.agents.get(uid);
        if (!agent) throw new AgentNotFoundError(uid);
        const decided = decide(agent);
        if (!decided) return undefined;
        try {
          await this.deps.agents.delete(agent);
        } catch (err) {
          this.evict(uid);
          if (err instanceof RevisionConflictError && attempt < 3) continue;
          throw err;
        }
        this.evict(uid);
        this.audit(uid, decided.transitions);
        return decided.result;
      }
    });
  }

  /**
   * Records a new command in the audit trail. Call it from a change's
   * `stored` hook, so the record is queued under the agent's lock before
   * anything can deliver the command.
   */
  record(command: AuditedCommand): Promise<void> {
    return this.deps.audit.record(command);
  }

  /**
   * Writes the audit records the agent's commands lack and settles those
   * that missed a transition (a process died between storing the agent and
   * auditing the change, or a change's write landed after its call failed;
   * see audit-reconciliation.ts). Says how many records it wrote and moved.
   */
  async reconcileAudit(uid: string): Promise<{ recorded: number; moved: number }> {
    // Records first, then the agent (see auditCorrections for why).
    const recent = await this.deps.audit.recent(uid);
    return this.mutate(uid, { create: false }, (agent) => {
      const { records, transitions } = auditCorrections(agent, recent);
      return {
        persist: "no",
        result: { recorded: records.length, moved: transitions.length },
        // Queued before the transitions (settle runs `stored` first), so each new record is written before its moves.
        stored: records.length > 0 ? () => records.forEach((r) => void this.record(r)) : undefined,
        transitions,
      };
    });
  }

  /** The agent, if it is in `namespace` (when given): another namespace's agent is not found. */
  async getAgent(uid: string, namespace?: string): Promise<Agent> {
    const agent = this.cache.get(uid) ?? (await this.deps.agents.get(uid));
    if (!agent || (namespace !== undefined && namespaceOf(agent) !== namespace)) throw new AgentNotFoundError(uid);
    return clone(AgentSchema, agent);
  }

  async listAgents(query: AgentQuery): Promise<Agent[]> {
    const agents = await this.deps.agents.list(query);
    // Cached agents may carry liveness not yet flushed: show the freshest copy.
    return agents.map((a) => clone(AgentSchema, this.cache.get(instanceUidToHex(a.metadata!.instanceUid)) ?? a));
  }

  /**
   * The instance UIDs (hex) of the agents a query selects, in uid order, for
   * callers that go on to change each under its lock (a group change) or
   * only count them: no copy of any agent is made. `query.where` sees the
   * stored copy, which differs from a cached one only in liveness.
   */
  async listUids(query: AgentQuery): Promise<string[]> {
    return (await this.deps.agents.list(query)).map((a) => instanceUidToHex(a.metadata!.instanceUid));
  }

  /** Agents not connected since before `query.before`, longest disconnected first (what retention removes). */
  listDisconnected(query: DisconnectedQuery): Promise<Agent[]> {
    return this.deps.agents.listDisconnected(query);
  }

  /** How many agents are stored (the store's own count, not a scan). */
  countStored(): Promise<number> {
    return this.deps.agents.count();
  }

  /**
   * Counts over the whole fleet, from the store. Cached agents differ from
   * their stored copy only in liveness, which the summary does not count.
   */
  async fleetSummary(namespace?: string): Promise<FleetSummary> {
    return this.deps.agents.summarize(namespace);
  }

  /** Calls `listener` with a copy of every agent after each stored change. */
  watch(listener: (agent: Agent) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  /** Whether this replica serves the agent (its reports come here and it is cached). */
  serves(uid: string): boolean {
    return this.cache.has(uid);
  }

  /**
   * Calls `observer` after each stored change with the agent itself, not a
   * copy, synchronously under the agent's lock: for in-process bookkeeping
   * that reads a few fields and keeps none of the object (the group status
   * counts). Costs no clone per change, unlike watch.
   */
  observe(observer: (agent: Readonly<Agent>) => void): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /**
   * Whether this replica's next change of the agent sees the stored
   * `revision`: its cached copy is at least that new (it wrote it, or read
   * it), or it is marked stale and reads through. False for an agent not
   * cached here (another replica may serve it).
   */
  seesRevision(uid: string, revision: bigint): boolean {
    const cached = this.cache.get(uid);
    return cached !== undefined && (this.stale.has(uid) || cached.revision >= revision);
  }

  /**
   * Another replica stored a change to the agent: the next change here reads
   * the store first (keeping the liveness this replica has not written yet),
   * so a reply never comes from an outdated copy.
   */
  markStale(uid: string): void {
    if (this.cache.has(uid)) this.stale.add(uid);
  }

  /** Writes liveness-only changes kept in memory. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => runBounded([...this.dirty], FLUSH_CONCURRENCY, (uid) => this.flushOne(uid)));
    return this.flushing;
  }

  /**
   * Writes one agent's liveness without holding its lock during the write, so
   * reports never wait for a slow database: a snapshot is taken under the
   * lock and written outside it, in the agent's write order. Right after the
   * write (still in that order, before a change queued behind it writes) the
   * cached revision is advanced if the cached copy is still the one
   * snapshotted and nobody stored it meanwhile; the change then writes on
   * top. If a change wrote first, ours meets a revision conflict and is
   * dropped: the change's copy already carried the newer liveness.
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
      await this.writes.run(uid, async () => {
        await this.deps.agents.save(taken.snapshot);
        if (this.cache.get(uid) === taken.agent) this.writtenAt.set(uid, this.now());
        if (this.cache.get(uid) === taken.agent && taken.agent.revision === expected) taken.agent.revision = expected + 1n;
      });
    } catch (err) {
      if (err instanceof RevisionConflictError) return;
      const extra = this.livenessFailures.take("liveness");
      if (extra) this.deps.logger.warn({ agent: uid, err: String(err), ...extra }, "could not write agent liveness; will retry on the next flush");
      await this.mutex.run(uid, async () => {
        if (this.cache.get(uid) === taken.agent) this.dirty.add(uid);
      });
    }
  }

  /** Stops the batch timer and writes what is still in memory. */
  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flush();
  }

  /** Number of agents held in memory (for metrics and tests). */
  get cachedAgents(): number {
    return this.cache.size;
  }

  private save(uid: string, agent: Agent): Promise<void> {
    return this.writes.run(uid, () => this.deps.agents.save(agent));
  }

  private evict(uid: string): void {
    this.cache.delete(uid);
    this.stale.delete(uid);
    this.dirty.delete(uid);
    this.writtenAt.delete(uid);
  }

  private notify(agent: Agent): void {
    for (const o of this.observers) o(agent);
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

/** Whether mutate's `fresh` asks to read the cached agent through to the store. */
function readThrough(fresh: boolean | bigint | undefined, cached: Agent | undefined): boolean {
  return typeof fresh === "bigint" ? cached === undefined || cached.revision < fresh : fresh === true;
}
