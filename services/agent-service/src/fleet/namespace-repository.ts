import type { Namespace } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";

/** Where namespaces are kept (secondary port). "default" is implicit and never stored. */
export interface NamespaceRepository {
  /** Stores a new namespace; false when the name is taken. */
  create(namespace: Namespace): Promise<boolean>;
  get(name: string): Promise<Namespace | undefined>;
  /** In name order, after `after`. */
  list(query: { limit: number; after?: string }): Promise<Namespace[]>;
  /** False when there was none. */
  delete(name: string): Promise<boolean>;
}
