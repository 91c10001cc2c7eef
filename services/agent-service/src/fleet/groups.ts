import { clone } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { GroupSchema, type Group, type GroupStatus } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { runBounded, type Logger } from "@fleetplane/platform";
import { InvalidRequestError } from "../agents/agent-errors.js";
import type { AgentQuery, GroupTarget } from "../agents/agent-repository.js";
import type { CommandAuditPort } from "../agents/command-audit-port.js";
import { newCommandId } from "../agents/command-id.js";
import { assignmentUpToDate } from "../agents/config-assignment.js";
import { groupOffersUpToDate } from "../agents/group-offers.js";
import { connectionSettingsOffer } from "../agents/offers.js";
import { resolvePackageReferences } from "../packages/package-registry.js";
import type { PackageRepository } from "../packages/package-repository.js";
import { agentSelectorKeys } from "./agent-selector-keys.js";
import type { Configurations } from "./configurations.js";
import { FleetResourceExistsError, FleetResourceInUseError, FleetResourceNotFoundError } from "./fleet-errors.js";
import type { GroupCatalog, GroupSnapshot } from "./group-catalog.js";
import { chooseGroup, sameChoice } from "./group-precedence.js";
import type { GroupRepository } from "./group-repository.js";
import type { GroupStatusBook } from "./group-status-book.js";
import { validateSelector } from "./label-selector.js";
import { requireResourceName } from "./resource-names.js";

export interface GroupsOptions {
  groups: GroupRepository;
  catalog: GroupCatalog;
  configurations: Configurations;
  /** Registered packages, for the references in groups' package offers. */
  packages: Pick<PackageRepository, "get">;
  /** Finds agents in pages (the agent store): only their uids, no copies. */
  agents: { listUids(query: AgentQuery): Promise<string[]> };
  /** The groups' status counts, kept as agents change (group-status-book.ts). */
  status: Pick<GroupStatusBook, "statuses">;
  /** Applies the namespace's groups to one agent: store, tell its gateway, audit (AdminCommands.reassign). */
  reassign: (uid: string, snapshot: GroupSnapshot) => Promise<boolean>;
  /**
   * The id of the group's rollout under way, from the rollouts' store, or
   * undefined: the group's own mark lags a rollout's start by a driver tick
   * (rollouts/rollout-decisions.ts, rolloutUnderWay).
   */
  rolloutUnderWay: (namespace: string, group: string) => Promise<string | undefined>;
  /** Throws unless the namespace exists. */
  requireNamespace: (namespace: string) => Promise<void>;
  audit: CommandAuditPort;
  logger: Logger;
  now?: () => number;
}

/** Agents read per store call when a group change is applied or previewed. */
const AGENT_PAGE = 500;
/**
 * Agents changed at once while a group change is applied. Each change waits
 * for its durable write (and its audit record's), and the store commits the
 * writes in flight together, so more in flight means fewer, larger commits.
 * At 16, a 10,000-agent change took 15 s of wall time for 8.9 s of server
 * CPU; at 128, all 10,000 APPLIED in 9.0 s (pnpm bench groups-change).
 */
const REASSIGN_CONCURRENCY = 128;

/**
 * Groups of a namespace. Every change is applied to the namespace's agents
 * before the call returns: they are read from the store in pages (only those
 * whose assignment the change moves come back), each changed under its lock
 * and its gateway told, with a progress line per page. Status counts come
 * from a book kept as agents change (group-status-book.ts).
 */
export class Groups {
  private readonly now: () => number;

  constructor(private readonly deps: GroupsOptions) {
    this.now = deps.now ?? Date.now;
  }

  async create(input: Group, requestedBy: string): Promise<{ group: Group; agentsMoved: number }> {
    const group = await this.validated(input);
    group.rollout = "";
    group.rolloutRunning = false;
    group.createdAt = group.updatedAt = timestampFromMs(this.now());
    group.updatedBy = requestedBy;
    if (!(await this.deps.groups.create(group))) {
      throw new FleetResourceExistsError(`group.name: group "${group.name}" already exists in namespace "${group.namespace}"; use UpdateGroup`);
    }
    await this.audit(group, "group_created", requestedBy);
    return { group, agentsMoved: await this.apply(group.namespace, `group ${group.name} created`) };
  }

  async update(input: Group, requestedBy: string): Promise<{ group: Group; agentsMoved: number }> {
    const group = await this.validated(input);
    const existing = await this.get(group.namespace, group.name);
    // The rollout fields are the server's: a running rollout drives the
    // version; once it is over, setting another version by hand ends its pins.
    const versionChanged = group.configuration !== existing.configuration || group.configurationVersion !== existing.configurationVersion;
    const underWay = versionChanged ? await this.underWay(existing) : undefined;
    if (underWay) {
      throw new FleetResourceInUseError(`group.configuration_version: group "${group.name}" has rollout ${underWay} under way; abort it, roll it back or let it finish before changing the version by hand (a paused rollout is still under way)`);
    }
    group.rollout = versionChanged ? "" : existing.rollout;
    group.rolloutRunning = existing.rolloutRunning;
    group.createdAt = existing.createdAt;
    group.updatedAt = timestampFromMs(this.now());
    group.updatedBy = requestedBy;
    if (!(await this.deps.groups.update(group))) throw new FleetResourceNotFoundError(`group "${group.name}" does not exist in namespace "${group.namespace}"`);
    await this.audit(group, "group_updated", requestedBy);
    return { group, agentsMoved: await this.apply(group.namespace, `group ${group.name} updated`) };
  }

  async delete(namespace: string, name: string, requestedBy: string): Promise<{ agentsMoved: number }> {
    const group = await this.get(namespace, name);
    const underWay = await this.underWay(group);
    if (underWay) throw new FleetResourceInUseError(`group "${name}" has rollout ${underWay} under way; abort it before deleting the group`);
    if (!(await this.deps.groups.delete(namespace, name))) throw new FleetResourceNotFoundError(`group "${name}" does not exist in namespace "${namespace}"`);
    await this.audit(group, "group_deleted", requestedBy);
    return { agentsMoved: await this.apply(namespace, `group ${name} deleted`) };
  }

  /** The rollout under way on `group`: its mark, or (just started, not marked yet) its slot. */
  private async underWay(group: Group): Promise<string | undefined> {
    if (group.rolloutRunning) return group.rollout;
    return this.deps.rolloutUnderWay(group.namespace, group.name);
  }

  async get(namespace: string, name: string): Promise<Group> {
    requireResourceName("name", name);
    const found = await this.deps.groups.get(namespace, name);
    if (!found) throw new FleetResourceNotFoundError(`group "${name}" does not exist in namespace "${namespace}"`);
    return found;
  }

  list(namespace: string, query: { limit: number; after?: string }): Promise<Group[]> {
    return this.deps.groups.list(namespace, query);
  }

  /**
   * A rollout's marks on its group: the rollout whose pins hold, whether it
   * is under way and, when it succeeded, the version the group now runs.
   * Applied to the agents the marks can move (marksMove says which; a new
   * version: the namespace's, like any group change, so agents that joined
   * meanwhile get it). Nothing is written when the group already carries
   * the marks, so a replica can repeat it. `targets`: the group's rollout
   * targets as the caller read them (GroupTarget), when it has them.
   */
  async markRollout(
    namespace: string,
    name: string,
    marks: { rollout: string; running: boolean; version?: number },
    requestedBy: string,
    targets?: readonly GroupTarget[],
  ): Promise<{ group: Group; agentsMoved: number }> {
    const group = clone(GroupSchema, await this.get(namespace, name));
    const version = marks.version ?? group.configurationVersion;
    if (group.rollout === marks.rollout && group.rolloutRunning === marks.running && group.configurationVersion === version) return { group, agentsMoved: 0 };
    const moves = marksMove(group, { rollout: marks.rollout, version }, targets);
    group.rollout = marks.rollout;
    group.rolloutRunning = marks.running;
    group.configurationVersion = version;
    group.updatedAt = timestampFromMs(this.now());
    group.updatedBy = requestedBy;
    if (!(await this.deps.groups.update(group))) throw new FleetResourceNotFoundError(`group "${name}" does not exist in namespace "${namespace}"`);
    await this.audit(group, marks.running ? "group_rollout_started" : "group_rollout_finished", requestedBy);
    const why = `rollout ${marks.rollout} of group ${name}`;
    return { group, agentsMoved: moves === "namespace" ? await this.apply(namespace, why) : await this.applyTo(namespace, moves, why) };
  }

  /** Counts for each group (of one namespace), from the namespace's status book (no pass over its agents). */
  statuses(namespace: string, groups: readonly Group[]): Promise<GroupStatus[]> {
    return this.deps.status.statuses(namespace, groups);
  }

  /**
   * What creating or updating `input` would do, changing nothing: the same
   * checks, and how many agents it would move to another group, version or
   * offers (counted over the namespace's agents in pages, like a change).
   * `nextVersion`: the group will name a version not created yet; every
   * agent it would win counts as moved. `before`: groups a plan stores
   * first, so each of its changes is counted once.
   */
  async preview(input: Group, options: { nextVersion?: boolean; before?: readonly { group: Group; nextVersion: boolean }[] } = {}): Promise<{ current?: Group; agentsMoved: number }> {
    const group = await this.validated(input, { version: !options.nextVersion });
    const current = await this.deps.groups.get(group.namespace, group.name);
    let base = await this.deps.catalog.snapshot(group.namespace, { fresh: true });
    for (const planned of options.before ?? []) {
      if (planned.group.namespace !== group.namespace) throw new InvalidRequestError(`before: group "${planned.group.name}" is of namespace "${planned.group.namespace}", not "${group.namespace}"`);
      base = await this.deps.catalog.withGroup(base, planned.group, { nextVersion: planned.nextVersion });
    }
    const after = await this.deps.catalog.withGroup(base, group, options);
    const moves = (agent: Agent) => {
      const keys = agentSelectorKeys(agent);
      return !sameChoice(chooseGroup(base.groups, keys), chooseGroup(after.groups, keys));
    };
    let moved = 0;
    for (let cursor: string | undefined; ; ) {
      const page = await this.deps.agents.listUids({ namespace: group.namespace, limit: AGENT_PAGE, where: moves, ...(cursor ? { after: cursor } : {}) });
      moved += page.length;
      if (page.length < AGENT_PAGE) break;
      cursor = page[page.length - 1];
    }
    return { ...(current ? { current } : {}), agentsMoved: moved };
  }

  /**
   * Applies the namespace's groups, as now stored, to every agent whose
   * assignment they change. Returns how many agents moved.
   */
  private async apply(namespace: string, why: string): Promise<number> {
    const snapshot = await this.deps.catalog.snapshot(namespace, { fresh: true });
    const stale = staleUnder(snapshot);
    let moved = 0;
    let pages = 0;
    for (let after: string | undefined; ; ) {
      const uids = await this.deps.agents.listUids({ namespace, limit: AGENT_PAGE, where: stale, ...(after ? { after } : {}) });
      moved += await this.reassignAll(uids, snapshot);
      pages++;
      if (uids.length > 0) this.deps.logger.info({ namespace, why, page: pages, agentsMoved: moved }, "re-evaluating agents after a group change");
      if (uids.length < AGENT_PAGE) break;
      after = uids[uids.length - 1];
    }
    this.deps.logger.info({ namespace, why, agentsMoved: moved }, "group change applied to the namespace's agents");
    return moved;
  }

  /** Applies the namespace's groups, as now stored, to the named agents only (see marksMove). Returns how many moved. */
  private async applyTo(namespace: string, uids: readonly string[], why: string): Promise<number> {
    if (uids.length === 0) return 0;
    const moved = await this.reassignAll(uids, await this.deps.catalog.snapshot(namespace, { fresh: true }));
    this.deps.logger.info({ namespace, why, checked: uids.length, agentsMoved: moved }, "group change applied to the agents it can move");
    return moved;
  }

  /** Applies `snapshot`'s groups to each of `uids` (REASSIGN_CONCURRENCY at once). Returns how many moved. */
  private async reassignAll(uids: readonly string[], snapshot: GroupSnapshot): Promise<number> {
    let moved = 0;
    await runBounded(uids, REASSIGN_CONCURRENCY, async (uid) => {
      if (await this.deps.reassign(uid, snapshot)) moved++;
    });
    return moved;
  }

  /**
   * Checks a group as given (names, selector, the configuration version it
   * names unless `check.version` is false, its offers) and returns a copy to store.
   */
  private async validated(input: Group, check: { version: boolean } = { version: true }): Promise<Group> {
    const group = clone(GroupSchema, input);
    requireResourceName("group.name", group.name);
    await this.deps.requireNamespace(group.namespace);
    validateSelector(group.selector, "group.selector");
    if (!group.configuration) throw new InvalidRequestError("group.configuration is empty: a group needs a configuration of its namespace");
    if (group.configuration.includes("/")) {
      throw new InvalidRequestError(`group.configuration "${group.configuration}" names another namespace; a group uses configurations of its own namespace ("${group.namespace}") only`);
    }
    requireResourceName("group.configuration", group.configuration);
    if (check.version) {
      if (group.configurationVersion === 0) throw new InvalidRequestError("group.configuration_version is 0: name the version its agents run (versions count from 1)");
      await this.deps.configurations.getVersion(group.namespace, group.configuration, group.configurationVersion, { configuration: "group.configuration", version: "group.configuration_version" });
    }
    // Offered to the group's agents like an admin's per-agent offers, which win (group-offers.ts).
    if (group.connectionSettings) connectionSettingsOffer(group.connectionSettings, "group.connection_settings");
    await resolvePackageReferences(group.packages, (key) => this.deps.packages.get(group.namespace, key), "group.packages");
    return group;
  }

  private audit(group: Group, kind: string, requestedBy: string): Promise<void> {
    const detail = `priority ${group.priority}, configuration ${group.configuration} version ${group.configurationVersion}`;
    return this.deps.audit.recordChange({ id: newCommandId(this.now()), namespace: group.namespace, resource: `group/${group.name}`, kind, requestedBy, detail });
  }
}

/**
 * Which agents a rollout's marks on `group` can move. An agent's assignment
 * depends on a group's rollout marks through one comparison only: a pin
 * holds while the group names the rollout that set it (pinHolds,
 * config-assignment.ts); whether the rollout runs changes nothing for an
 * agent, and the choice of group and the offers never read either mark. So:
 *
 * - a new version (a rollout that succeeded): every agent of the namespace
 *   may move (those not pinned take it) — the namespace is checked;
 * - the same rollout named (running set or cleared): no agent can move;
 * - another rollout named, the version kept (a rollout's start): only the
 *   group's agents pinned under a rollout other than the one now named —
 *   their pin stops holding. Pins are set only by rollouts, and an agent
 *   entering the group comes in unpinned, so the group's targets as the
 *   caller read them before the mark hold every such agent (a pin the
 *   caller set since under the new rollout is read again and kept); they
 *   are checked (reassign reads each afresh). Without `targets`, the
 *   namespace is checked.
 */
function marksMove(group: Group, marks: { rollout: string; version: number }, targets: readonly GroupTarget[] | undefined): readonly string[] | "namespace" {
  if (marks.version !== group.configurationVersion) return "namespace";
  if (marks.rollout === group.rollout) return [];
  if (!targets) return "namespace";
  return targets.filter((t) => t.rollout !== "" && t.rollout !== marks.rollout).map((t) => t.uid);
}

/** Agents whose assignment or group offers the snapshot's groups would change. */
function staleUnder(snapshot: GroupSnapshot): (agent: Agent) => boolean {
  return (agent) => {
    const choice = chooseGroup(snapshot.groups, agentSelectorKeys(agent));
    return !assignmentUpToDate(agent, choice) || !groupOffersUpToDate(agent, choice.winner);
  };
}
