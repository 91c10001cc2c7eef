import type { Rollout } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";

/**
 * Where rollouts are kept (secondary port). A rollout is a numbered series
 * of decisions: each state is stored once under (id, sequence), as an
 * insert under a unique key, so when two replicas (a stale leader and its
 * successor) decide at once exactly one decision is stored and the other
 * learns it lost. A group's slot (also a unique key) holds the rollout that
 * is not finished: one per group at a time.
 */
export interface RolloutRepository {
  /** Stores a new rollout (decision 1) in its group's slot; false when the slot holds another rollout. */
  create(rollout: Rollout): Promise<boolean>;
  /** Stores decision `rollout.sequence`; false when that number is taken (another replica decided first). */
  record(rollout: Rollout): Promise<boolean>;
  /** The latest decision. */
  get(namespace: string, id: string): Promise<Rollout | undefined>;
  /** Newest first (ids sort by start time), before the id `before`; only `group`'s when given. */
  list(namespace: string, query: { limit: number; before?: string; group?: string }): Promise<Rollout[]>;
  /** Rollouts that hold their group's slot, in every namespace. */
  active(): Promise<Array<{ namespace: string; id: string }>>;
  /** Empties the group's slot if `id` holds it (its rollout finished). */
  release(namespace: string, group: string, id: string): Promise<void>;
}

/** A replica's claim to drive one rollout, for one term. */
export interface RolloutLease {
  rolloutId: string;
  /** Counts claims from 1; each term has at most one holder. */
  term: number;
  holder: string;
  /** Epoch ms. */
  expiresAt: number;
}

/**
 * The leases that say which replica drives each rollout. A claim is an
 * insert under (rollout, term), so of replicas claiming the same term one
 * wins (FerretDB enforces unique keys; it was seen to let two conditional
 * updates both match). Only a term's holder extends it.
 */
export interface RolloutLeaseRepository {
  /** The lease of the highest term, if any. */
  latest(rolloutId: string): Promise<RolloutLease | undefined>;
  /** Claims `lease.term`; false when another replica claimed it first. */
  claim(lease: RolloutLease): Promise<boolean>;
  /** Extends the holder's own term. */
  renew(lease: RolloutLease): Promise<void>;
}
