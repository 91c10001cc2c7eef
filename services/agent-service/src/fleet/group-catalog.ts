import { create } from "@bufbuild/protobuf";
import type { Group } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { AgentConfigMapSchema, type AgentConfigMap } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { Logger } from "@fleetplane/platform";
import { computeConfigHash } from "../agents/config-hash.js";
import type { ConfigurationRepository } from "./configuration-repository.js";
import { byPrecedence, type CatalogGroup } from "./group-precedence.js";
import type { GroupRepository } from "./group-repository.js";

/** A namespace's groups in precedence order, with their versions' files, as of one groups revision. */
export interface GroupSnapshot {
  namespace: string;
  revision: number;
  groups: readonly CatalogGroup[];
}

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

  constructor(private readonly deps: { groups: GroupRepository; configurations: ConfigurationRepository; logger: Logger }) {}

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
    const versions = new Map<string, { config: AgentConfigMap; hash: Uint8Array } | undefined>();
    const out: CatalogGroup[] = [];
    for (const group of groups.sort(byPrecedence)) {
      const key = `${group.configuration}/${group.configurationVersion}`;
      if (!versions.has(key)) {
        const version = await this.deps.configurations.getVersion(namespace, group.configuration, group.configurationVersion);
        versions.set(key, version ? configOf(version.files) : undefined);
      }
      const resolved = versions.get(key);
      if (!resolved) {
        // Refused at write time; only a race with a delete gets here.
        this.deps.logger.warn({ namespace, group: group.name, configuration: group.configuration, version: group.configurationVersion }, "group names a configuration version that does not exist; its agents are not assigned");
        continue;
      }
      out.push({ group, ...resolved });
    }
    this.deps.logger.info({ namespace, revision, groups: out.length }, "group catalog loaded");
    return { namespace, revision, groups: out };
  }
}

/** A version's files as the AgentConfigMap agents are sent, with its hash. */
export function configOf(files: Record<string, { body: Uint8Array; contentType: string }>): { config: AgentConfigMap; hash: Uint8Array } {
  const config = create(AgentConfigMapSchema, {
    configMap: Object.fromEntries(Object.entries(files).map(([name, f]) => [name, { body: f.body, contentType: f.contentType }])),
  });
  return { config, hash: computeConfigHash(config) };
}
