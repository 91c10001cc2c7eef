import type { Package } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";

/** A package version's identity in the registry. */
export interface PackageKey {
  name: string;
  version: string;
}

export interface PackageQuery {
  /** Only the versions of this package. */
  name?: string;
  limit: number;
  /** The last package of the previous page (listing is in name, then version order). */
  after?: PackageKey;
}

/** Where registered packages are kept (secondary port of the package registry). */
export interface PackageRepository {
  /**
   * Stores the package unless one with the same name and version exists, in
   * one atomic step (two admins registering at once cannot both win).
   * Returns what is stored under that key afterwards and whether it was this call that created it.
   */
  insertIfAbsent(pkg: Package): Promise<{ stored: Package; created: boolean }>;
  get(key: PackageKey): Promise<Package | undefined>;
  /** Name order, then version order (both by UTF-8 bytes). */
  list(query: PackageQuery): Promise<Package[]>;
  /** False when nothing was stored under the key. */
  delete(key: PackageKey): Promise<boolean>;
}
