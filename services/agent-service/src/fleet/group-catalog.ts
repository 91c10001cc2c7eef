import { clone, create } from "@bufbuild/protobuf";
import { GroupSchema, type Group } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { AgentConfigMapSchema, type AgentConfigMap } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { Logger } from "@fleetplane/platform";
import { computeConfigHash } from "../agents/config-hash.js";
import { connectionSettingsOffer, packagesOffer } from "../agents/offers.js";
import { PackageNotFoundError } from "../packages/package-errors.js";
import { resolvePackageReferences } from "../packages/package-registry.js";
import type { PackageRepository } from "../packages/package-repository.js";
import type { ConfigurationRepository } from "./configuration-repository.js";
import { byPrecedence, type CatalogGroup } from "./group-precedence.js";
import type { GroupRepository } from "./group-repository.js";

/** A namespace's groups in precedence order, with their versions' files, as of one groups revision. */
export interface GroupSnapshot {
  namespace: string;
  revision: number;
  groups: readonly CatalogGroup[];
}

/** Each configuration version's files, read once per load (many groups may share one). */
type VersionCache = Map<string, { config: AgentConfigMap; hash: Uint8Array } | undefined>;

/** Groups read per store call while loading a namespace. */
const PAGE = 500;

/**
 * Each replica's in-memory copy of the groups of every namespace it has
 * seen, so choosing an agent's group costs O(groups in the namespace) and no
 * group reads. Kept fresh across replicas by a version check: every group
 * write moves the namespace's groups revision in the store, and a snapshot
 * is handed out only after reading that revision (one small read, shared by
 * every caller waiting at the same time); a changed revision reloads the
 * namespace. Only new agents, agents whose description or labels changed,
 * and group changes ask — never a heartbeat.
 */
export class GroupCatalog {
  private readonly snapshots = new Map<string, GroupSnapshot>();
  private readonly checks = new Map<string, Promise<GroupSnapshot>>();

  constructor(private readonly deps: { groups: GroupRepository; configurations: ConfigurationRepository; packages: Pick<PackageRepository, "get">; logger: Logger }) {}

  /**
   * The namespace's groups as of now. `fresh`: do not join a check already
   * under way (it may have read the revision before the caller's own write).
   */
  snapshot(namespace: string, options: { fresh?: boolean } = {}): Promise<GroupSnapshot> {
    const inFlight = this.checks.get(namespace);
    if (inFlight && !options.fresh) return inFlight;
    const check = this.check(namespace).finally(() => {
      if (this.checks.get(namespace) === check) this.checks.delete(namespace);
    });
    this.checks.set(namespace, check);
    return check;
  }

  private async check(namespace: string): Promise<GroupSnapshot> {
    const revision = await this.deps.groups.revision(namespace);
    const cached = this.snapshots.get(namespace);
    if (cached && cached.revision === revision) return cached;
    const snapshot = await this.load(namespace, revision);
    // Checks may finish out of order: never replace a newer snapshot.
    if ((this.snapshots.get(namespace)?.revision ?? -1) <= revision) this.snapshots.set(namespace, snapshot);
    return snapshot;
  }

  /**
   * Reads every group of the namespace and the version each names. Read
   * after the revision, so a write that lands meanwhile leaves a snapshot
   * labelled older than its content: the next check reloads it.
   */
  private async load(namespace: string, revision: number): Promise<GroupSnapshot> {
    const groups: Group[] = [];
    for (let after: string | undefined; ; ) {
      const page = await this.deps.groups.list(namespace, { limit: PAGE, ...(after ? { after } : {}) });
      groups.push(...page);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.name;
    }
    const versions: VersionCache = new Map();
    const out: CatalogGroup[] = [];
    for (const group of groups.sort(byPrecedence)) {
      const resolved = await this.resolve(group, versions);
      if (resolved) out.push(resolved);
    }
    this.deps.logger.info({ namespace, revision, groups: out.length }, "group catalog loaded");
    return { namespace, revision, groups: out };
  }

  /**
   * The snapshot as it would be with `group` stored (replacing the group of
   * its name): what a preview matches agents against. Never cached.
   */
  async withGroup(snapshot: GroupSnapshot, group: Group, options: { nextVersion?: boolean } = {}): Promise<GroupSnapshot> {
    const resolved = options.nextVersion ? await this.withNextVersion(group) : await this.resolve(group, new Map());
    const others = snapshot.groups.filter((g) => g.group.name !== group.name);
    const groups = resolved ? [...others, resolved].sort((a, b) => byPrecedence(a.group, b.group)) : others;
    return { namespace: snapshot.namespace, revision: snapshot.revision, groups };
  }

  /**
   * A group naming a version not created yet: version 0 (versions count
   * from 1) and no files, so it differs from what every agent has.
   */
  private async withNextVersion(group: Group): Promise<CatalogGroup> {
    const named = clone(GroupSchema, group);
    named.configurationVersion = 0;
    return { group: named, ...configOf({}), ...(await this.offersOf(group)) };
  }

  /** A group with its version's files and its offers; undefined when the version does not exist. */
  private async resolve(group: Group, versions: VersionCache): Promise<CatalogGroup | undefined> {
    const key = `${group.configuration}/${group.configurationVersion}`;
    if (!versions.has(key)) {
      const version = await this.deps.configurations.getVersion(group.namespace, group.configuration, group.configurationVersion);
      versions.set(key, version ? configOf(version.files) : undefined);
    }
    const resolved = versions.get(key);
    if (!resolved) {
      // Refused at write time; only a race with a delete gets here.
      this.deps.logger.warn(
        { namespace: group.namespace, group: group.name, configuration: group.configuration, version: group.configurationVersion },
        "group names a configuration version that does not exist; its agents are not assigned",
      );
      return undefined;
    }
    return { group, ...resolved, ...(await this.offersOf(group)) };
  }

  /**
   * The group's connection settings and packages as its agents are offered
   * them. Checked at write time; a package deleted since is left out of the
   * offer (logged), the rest of the group still applies.
   */
  private async offersOf(group: Group): Promise<Pick<CatalogGroup, "connectionSettings" | "packages">> {
    const out: Pick<CatalogGroup, "connectionSettings" | "packages"> = {};
    if (group.connectionSettings) out.connectionSettings = connectionSettingsOffer(group.connectionSettings, "group.connection_settings");
    if (group.packages.length > 0) {
      try {
        out.packages = packagesOffer(await resolvePackageReferences(group.packages, (key) => this.deps.packages.get(group.namespace, key), "group.packages"));
      } catch (err) {
        if (!(err instanceof PackageNotFoundError)) throw err;
        this.deps.logger.warn({ namespace: group.namespace, group: group.name, package: err.key }, "group offers a package that is no longer registered; its agents are offered no packages by it");
      }
    }
    return out;
  }
}

/** A version's files as the AgentConfigMap agents are sent, with its hash. */
export function configOf(files: Record<string, { body: Uint8Array; contentType: string }>): { config: AgentConfigMap; hash: Uint8Array } {
  const config = create(AgentConfigMapSchema, {
    configMap: Object.fromEntries(Object.entries(files).map(([name, f]) => [name, { body: f.body, contentType: f.contentType }])),
  });
  return { config, hash: computeConfigHash(config) };
}
