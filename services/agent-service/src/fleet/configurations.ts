import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { FileDiff } from "@fleetplane/gen/fleetplane/fleet/v1/configuration_service_pb";
import { ConfigurationSchema, ConfigurationVersionSchema, type Configuration, type ConfigurationFile, type ConfigurationVersion } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { InvalidRequestError } from "../agents/agent-errors.js";
import type { CommandAuditPort } from "../agents/command-audit-port.js";
import { newCommandId } from "../agents/command-id.js";
import { hashesEqual } from "../agents/config-hash.js";
import { diffConfigurationVersions } from "./configuration-diff.js";
import { ConfigurationVersionConflictError, type ConfigurationRepository } from "./configuration-repository.js";
import { FleetResourceExistsError, FleetResourceInUseError, FleetResourceNotFoundError } from "./fleet-errors.js";
import { configOf } from "./group-catalog.js";
import type { GroupRepository } from "./group-repository.js";
import { requireResourceName } from "./resource-names.js";

export interface ConfigurationsOptions {
  configurations: ConfigurationRepository;
  groups: GroupRepository;
  audit: CommandAuditPort;
  /** Throws unless the namespace exists. */
  requireNamespace: (namespace: string) => Promise<void>;
  now?: () => number;
}

/** Attempts at numbering a new version when another writer takes the number first. */
const VERSION_ATTEMPTS = 5;

/**
 * Named configurations with immutable, numbered versions. A version's
 * config_hash is computed from its files here, once: it is the hash agents
 * are sent and report back.
 */
export class Configurations {
  private readonly now: () => number;

  constructor(private readonly deps: ConfigurationsOptions) {
    this.now = deps.now ?? Date.now;
  }

  async create(
    namespace: string,
    name: string,
    input: { description: string; files: Record<string, ConfigurationFile>; message: string },
    requestedBy: string,
  ): Promise<{ configuration: Configuration; version: ConfigurationVersion }> {
    requireResourceName("name", name);
    await this.deps.requireNamespace(namespace);
    const at = timestampFromMs(this.now());
    const version = this.newVersion(namespace, name, 1, input.files, input.message, requestedBy);
    const configuration = create(ConfigurationSchema, { namespace, name, description: input.description, latestVersion: 1, createdAt: at, createdBy: requestedBy, updatedAt: at });
    if (!(await this.deps.configurations.create(configuration, version))) {
      throw new FleetResourceExistsError(`configuration "${name}" already exists in namespace "${namespace}"; add a version with CreateConfigurationVersion`);
    }
    await this.audit(namespace, name, "configuration_created", requestedBy, "version 1");
    return { configuration, version };
  }

  /** The next version, unless the files equal the latest version's (then that one, created = false). */
  async addVersion(
    namespace: string,
    name: string,
    input: { files: Record<string, ConfigurationFile>; message: string },
    requestedBy: string,
  ): Promise<{ configuration: Configuration; version: ConfigurationVersion; created: boolean }> {
    for (let attempt = 1; ; attempt++) {
      const configuration = await this.get(namespace, name);
      const latest = await this.getVersion(namespace, name, configuration.latestVersion);
      const version = this.newVersion(namespace, name, configuration.latestVersion + 1, input.files, input.message, requestedBy);
      if (hashesEqual(latest.configHash, version.configHash)) return { configuration, version: latest, created: false };
      configuration.latestVersion = version.version;
      configuration.updatedAt = version.createdAt;
      try {
        await this.deps.configurations.addVersion(configuration, version);
      } catch (err) {
        if (err instanceof ConfigurationVersionConflictError && attempt < VERSION_ATTEMPTS) continue;
        throw err;
      }
      await this.audit(namespace, name, "configuration_version_created", requestedBy, `version ${version.version}`);
      return { configuration, version, created: true };
    }
  }

  async get(namespace: string, name: string): Promise<Configuration> {
    requireResourceName("name", name);
    const found = await this.deps.configurations.get(namespace, name);
    if (!found) throw new FleetResourceNotFoundError(`configuration "${name}" does not exist in namespace "${namespace}"`);
    return found;
  }

  list(namespace: string, query: { limit: number; after?: string }): Promise<Configuration[]> {
    return this.deps.configurations.list(namespace, query);
  }

  /** A version with its files; 0 means the latest. `fields` name the request fields in a NotFound. */
  async getVersion(namespace: string, name: string, version: number, fields = { configuration: "name", version: "version" }): Promise<ConfigurationVersion> {
    const configuration = await this.deps.configurations.get(namespace, name);
    if (!configuration) throw new FleetResourceNotFoundError(`${fields.configuration}: configuration "${name}" does not exist in namespace "${namespace}"`);
    const number = version === 0 ? configuration.latestVersion : version;
    const found = await this.deps.configurations.getVersion(namespace, name, number);
    if (!found) throw new FleetResourceNotFoundError(`${fields.version}: configuration "${name}" in namespace "${namespace}" has no version ${number}`);
    return found;
  }

  /** Newest first; `before`: the version the previous page ended with. */
  async listVersions(namespace: string, name: string, query: { limit: number; before?: number }): Promise<ConfigurationVersion[]> {
    await this.get(namespace, name);
    return this.deps.configurations.listVersions(namespace, name, query);
  }

  async diff(namespace: string, name: string, from: number, to: number): Promise<FileDiff[]> {
    if (from === 0 || to === 0) throw new InvalidRequestError("from_version and to_version are both needed (versions count from 1)");
    const a = await this.getVersion(namespace, name, from, { configuration: "name", version: "from_version" });
    const b = await this.getVersion(namespace, name, to, { configuration: "name", version: "to_version" });
    return diffConfigurationVersions(a, b);
  }

  /** Refused while a group of the namespace uses the configuration. */
  async delete(namespace: string, name: string, requestedBy: string): Promise<void> {
    await this.get(namespace, name);
    const users: string[] = [];
    for (let after: string | undefined; ; ) {
      const page = await this.deps.groups.list(namespace, { limit: 500, ...(after ? { after } : {}) });
      for (const g of page) if (g.configuration === name) users.push(g.name);
      if (page.length < 500) break;
      after = page[page.length - 1]!.name;
    }
    if (users.length > 0) throw new FleetResourceInUseError(`configuration "${name}" is used by group${users.length > 1 ? "s" : ""} ${users.map((u) => `"${u}"`).join(", ")}; point them elsewhere or delete them first`);
    if (!(await this.deps.configurations.delete(namespace, name))) throw new FleetResourceNotFoundError(`configuration "${name}" does not exist in namespace "${namespace}"`);
    await this.audit(namespace, name, "configuration_deleted", requestedBy, "");
  }

  private newVersion(namespace: string, name: string, number: number, files: Record<string, ConfigurationFile>, message: string, requestedBy: string): ConfigurationVersion {
    if (Object.keys(files).length === 0) throw new InvalidRequestError("files: a configuration version needs at least one file");
    const version = create(ConfigurationVersionSchema, { namespace, configuration: name, version: number, files, createdBy: requestedBy, createdAt: timestampFromMs(this.now()), message });
    version.configHash = configOf(files).hash;
    return version;
  }

  private audit(namespace: string, name: string, kind: string, requestedBy: string, detail: string): Promise<void> {
    return this.deps.audit.recordChange({ id: newCommandId(this.now()), namespace, resource: `configuration/${name}`, kind, requestedBy, detail });
  }
}
