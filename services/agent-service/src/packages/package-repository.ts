import type { Package } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";

/** A package version's identity within its namespace. */
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

/**
 * Where registered packages are kept (secondary port of the package
 * registry). Every package belongs to one namespace (`Package.namespace`);
 * name and version are unique within it, and nothing reads across
 * namespaces. Packages stored before namespaces are in "default" (each
 * adapter moves them there).
 */
export interface PackageRepository {
  /**
   * Stores the package (in `pkg.namespace`) unless one with the same name and
   * version exists there, in one atomic step (two admins registering at once
   * cannot both win). Returns what is stored under that key afterwards and
   * whether it was this call that created it.
   */
  insertIfAbsent(pkg: Package): Promise<{ stored: Package; created: boolean }>;
  get(namespace: string, key: PackageKey): Promise<Package | undefined>;
  /** Name order, then version order (both by UTF-8 bytes). */
  list(namespace: string, query: PackageQuery): Promise<Package[]>;
  /** False when nothing was stored under the key. */
  delete(namespace: string, key: PackageKey): Promise<boolean>;
}
