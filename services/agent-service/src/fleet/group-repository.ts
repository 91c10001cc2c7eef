import type { Group } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";

/**
 * Where groups are kept (secondary port). Every write to a namespace's groups
 * also moves that namespace's groups revision, which is how each replica's
 * in-memory group catalog learns that its copy is stale (group-catalog.ts).
 */
export interface GroupRepository {
  get(namespace: string, name: string): Promise<Group | undefined>;
  /** In name order, after `after`. */
  list(namespace: string, query: { limit: number; after?: string }): Promise<Group[]>;
  /** Stores a new group; false when the name is taken. */
  create(group: Group): Promise<boolean>;
  /** Replaces a group; false when there is none. */
  update(group: Group): Promise<boolean>;
  /** False when there was none. */
  delete(namespace: string, name: string): Promise<boolean>;
  /** A number that changes whenever the namespace's groups change (0 before the first change). */
  revision(namespace: string): Promise<number>;
}
