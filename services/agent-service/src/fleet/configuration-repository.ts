import type { Configuration, ConfigurationVersion } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";

/** Another writer added a version first; read the configuration again and retry. */
export class ConfigurationVersionConflictError extends Error {
  constructor(readonly namespace: string, readonly configuration: string, readonly version: number) {
    super(`configuration ${namespace}/${configuration} already has a version ${version}; read it again and retry`);
    this.name = "ConfigurationVersionConflictError";
  }
}

/**
 * Where configurations and their immutable versions are kept (secondary
 * port). A configuration's `latest_version` moves only together with the
 * version it names, so readers never see a latest version that is missing.
 */
export interface ConfigurationRepository {
  get(namespace: string, name: string): Promise<Configuration | undefined>;
  /** In name order, after `after`. */
  list(namespace: string, query: { limit: number; after?: string }): Promise<Configuration[]>;
  /** Stores a new configuration with its first version; false when the name is taken. */
  create(configuration: Configuration, first: ConfigurationVersion): Promise<boolean>;
  /**
   * Stores `version` (numbered latest_version + 1 of the stored
   * configuration) and the configuration with its new latest_version.
   * Throws ConfigurationVersionConflictError when that number is taken.
   */
  addVersion(configuration: Configuration, version: ConfigurationVersion): Promise<void>;
  getVersion(namespace: string, name: string, version: number): Promise<ConfigurationVersion | undefined>;
  /** Newest first, before version `before` (0: from the latest). */
  listVersions(namespace: string, name: string, query: { limit: number; before?: number }): Promise<ConfigurationVersion[]>;
  /** Removes the configuration and every version; false when there was none. */
  delete(namespace: string, name: string): Promise<boolean>;
  /** Whether the namespace holds any configuration. */
  any(namespace: string): Promise<boolean>;
}
