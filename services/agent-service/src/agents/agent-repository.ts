import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { FleetSummary } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";

/** Another writer stored a newer revision first; reload and apply again. */
export class RevisionConflictError extends Error {
  constructor(readonly instanceUid: string, readonly expected: bigint) {
    super(`agent ${instanceUid} changed concurrently (expected revision ${expected}); reload and retry`);
    this.name = "RevisionConflictError";
  }
}

export interface AgentQuery {
  limit: number;
  /** Hex uid of the last agent of the previous page (listing is in uid order). */
  after?: string;
  connected?: boolean;
  /** Only agents whose status names this gateway (the reaper's query). */
  gatewayId?: string;
  /** Only agents of this namespace (agents stored without one are in "default"). */
  namespace?: string;
  /** Only agents carrying all of these admin labels. */
  labels?: Record<string, string>;
  /** Matches identifying or non-identifying string attributes. */
  attributes?: Record<string, string>;
  /** Only these agents (hex uids): a rollout reads a stage's agents without reading the namespace. */
  instanceUids?: readonly string[];
  /** Returns true to keep an agent (filters the store cannot express). */
  where?: (agent: Agent) => boolean;
}

/** Where a sweep through agents disconnected long ago resumes: the last agent it saw. */
export interface DisconnectedCursor {
  /** Its disconnectedSince (epoch ms). */
  since: number;
  uid: string;
}

export interface DisconnectedQuery {
  /** Only agents whose disconnectedSince (see disconnected-since.ts) is before this (epoch ms). */
  before: number;
  limit: number;
  after?: DisconnectedCursor;
}

/** An agent a rollout of its group may move (rollouts/group-agents.ts says which), as a group's listing gives it. */
export interface GroupTarget {
  /** Hex instance uid. */
  uid: string;
  /** The configuration version its assignment names. */
  version: number;
  /** The rollout that pinned that version; empty when none did. */
  rollout: string;
  /**
   * Only when the listing was asked for it (`components: true`): the key of
   * the components the agent reported (rollouts/preflight.ts, componentsKeyOf),
   * copied at each save; undefined in an answer when the store has no copy
   * for the agent (stored before the copy existed): read it whole.
   */
  components?: string | undefined;
}

/** What listRevisions reads: a namespace's agents, or the named ones of it, a page at a time in uid order. */
export interface RevisionQuery {
  namespace: string;
  /** Only these agents (hex uids). */
  instanceUids?: readonly string[];
  /** Hex uid of the last agent of the previous page. */
  after?: string;
  limit: number;
}

/** An agent's stored revision, as listRevisions gives it. */
export interface StoredRevision {
  /** Hex instance uid. */
  uid: string;
  revision: bigint;
}

/** Where agents are kept (secondary port). Uids are hex strings here. */
export interface AgentRepository {
  get(instanceUid: string): Promise<Agent | undefined>;
  /**
   * The agent when its stored revision is above `revision`; undefined when
   * it is not (or the agent is gone). What a read-through of a cached copy
   * asks (another replica may have stored a newer one), answered without
   * reading the agent when nobody did: that is almost every time.
   */
  getNewer(instanceUid: string, revision: bigint): Promise<Agent | undefined>;
  /**
   * Stores the agent when the stored revision is still `agent.revision`, and
   * increments `agent.revision`. Throws RevisionConflictError otherwise.
   */
  save(agent: Agent): Promise<void>;
  /**
   * `save` for a batch of agents already stored (none is created): each is
   * written only where its stored revision is still its own, in as few store
   * operations as the store allows (MongoDB: the conditional writes queued
   * together into unordered bulkWrites; LMDB: one transaction), and the
   * revision of each written one is incremented. Says, in the batch's order,
   * which were written (true), which not (false: a conflict, or not stored),
   * and for which the store failed (that agent's Error: it may or may not
   * have been written — one bulkWrite of several failed); rejects when the
   * store failed for the whole batch, which may have written part of it.
   * What a rollout's stage pins go through.
   */
  saveMany(agents: readonly Agent[]): Promise<Array<boolean | Error>>;
  /**
   * Removes the agent when the stored revision is still `agent.revision`
   * (nobody changed it since it was read); throws RevisionConflictError otherwise.
   */
  delete(agent: Agent): Promise<void>;
  list(query: AgentQuery): Promise<Agent[]>;
  /**
   * The agents a rollout of the group may move (see isRolloutTarget), in uid
   * order, a page at a time (`after`: the last uid of the previous page):
   * what a rollout's start and each stage's choice read, the version and
   * pin of each, not the agents themselves. `components`: each target's
   * components key too (what a preflight reads: no agent decoded).
   */
  listGroupTargets(namespace: string, group: string, page: { limit: number; after?: string; components?: boolean }): Promise<GroupTarget[]>;
  /**
   * The stored revision of each agent the query names (agents not stored,
   * or stored in another namespace, are left out), in uid order, a page at
   * a time: what a reader that keeps the copies it read asks before reading
   * again (a rollout's stage look), so that only agents whose revision moved
   * are read and decoded. No agent is decoded to answer it.
   */
  listRevisions(query: RevisionQuery): Promise<StoredRevision[]>;
  /**
   * Agents not connected since before `query.before`, longest disconnected
   * first (ties in uid order), read through an index kept by save and delete:
   * the cost is that of the page, not of the fleet.
   */
  listDisconnected(query: DisconnectedQuery): Promise<Agent[]>;
  /** How many agents are stored: from the store's own bookkeeping, not a scan. */
  count(): Promise<number>;
  /**
   * How many agents each namespace holds (namespaces without agents left
   * out). No change to an agent costs work in proportion to the fleet: the
   * embedded store keeps the counts beside the agents, in each save's
   * transaction; MongoDB groups the namespace index when asked (the
   * metrics read it at most every few seconds).
   */
  countByNamespace(): Promise<Map<string, number>>;
  /** Counts over every stored agent, or a namespace's (see fleet-summary.ts for their meaning). */
  summarize(namespace?: string): Promise<FleetSummary>;
  ping(): Promise<void>;
}
