import { clone, create } from "@bufbuild/protobuf";
import { ConfigSource, RemoteConfigState, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { GroupStatusSchema, type Group, type GroupStatus } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { agentSelectorKeys } from "./agent-selector-keys.js";
import { matchesSelector } from "./label-selector.js";

/**
 * What one agent adds to its namespace's group counts: the groups whose
 * selector it matches, and, when its configuration comes from a group, that
 * group with the agent's state there. Small and comparable, so a book can
 * keep one per agent and swap it when the agent changes.
 */
export interface StatusContribution {
  matched: readonly string[];
  /**
   * What `matched` was computed from: the agent's description and labels
   * objects. Both are replaced, never changed in place, when they change, so
   * the next contribution of an agent whose keys are the same objects reuses
   * `matched` instead of matching every group's selector again.
   */
  keys?: { description: unknown; labels: unknown };
  group?: { name: string; tiedWith: readonly string[]; connected: boolean; state: "applied" | "applying" | "failed" | "other"; unhealthy: boolean };
}

/**
 * What `agent` adds to the counts of `groups` (all of its namespace's).
 * `before`: its previous contribution over the same groups, whose matches
 * are kept when its description and labels are the same objects.
 */
export function contributionOf(agent: Readonly<Agent>, groups: readonly Group[], before?: StatusContribution): StatusContribution {
  const keys = { description: agent.metadata?.description, labels: agent.metadata?.labels };
  const same = before?.keys !== undefined && before.keys.description === keys.description && before.keys.labels === keys.labels;
  const matched = same ? before.matched : matchedBy(agent, groups);
  const a = agent.spec?.assignment;
  if (a?.source !== ConfigSource.GROUP) return { matched, keys };
  const reported = agent.spec?.remoteConfig?.data?.status;
  const state = reported === RemoteConfigState.APPLIED ? "applied" : reported === RemoteConfigState.APPLYING ? "applying" : reported === RemoteConfigState.FAILED ? "failed" : "other";
  return {
    matched,
    keys,
    group: {
      name: a.group,
      tiedWith: [...a.tiedWith],
      connected: agent.status?.connected === true,
      state,
      unhealthy: agent.status?.health !== undefined && !agent.status.health.healthy,
    },
  };
}

function matchedBy(agent: Readonly<Agent>, groups: readonly Group[]): string[] {
  const lookup = agentSelectorKeys(agent);
  return groups.filter((g) => matchesSelector(g.selector, lookup)).map((g) => g.name);
}

/**
 * Counts for a set of groups, folded one agent's contribution at a time (and
 * unfolded: `remove` takes back what `add` counted, so a book can follow an
 * agent's changes). "matched": the selector matches (whichever group won the
 * agent); the rest count the agents whose configuration comes from the
 * group. A tie is shown on both groups: the winner lists the groups its
 * agents also matched, and each of those lists the winner.
 */
export class GroupStatusCounter {
  private readonly statuses = new Map<string, GroupStatus>();
  /** group → tied group → how many agents carry that tie (a tie shows while any does). */
  private readonly ties = new Map<string, Map<string, number>>();

  constructor(groups: readonly Group[]) {
    for (const g of groups) {
      this.statuses.set(g.name, create(GroupStatusSchema));
      this.ties.set(g.name, new Map());
    }
  }

  /** Counts an agent's contribution (`contributionOf` over the same groups). */
  addContribution(c: StatusContribution): void {
    this.fold(c, 1);
  }

  removeContribution(c: StatusContribution): void {
    this.fold(c, -1);
  }

  /** A copy: the counts go on changing after it is returned (create() would hand back the counter's own message). */
  status(name: string): GroupStatus {
    const counted = this.statuses.get(name);
    const s = counted ? clone(GroupStatusSchema, counted) : create(GroupStatusSchema);
    s.tiedWith = [...(this.ties.get(name) ?? new Map<string, number>()).entries()]
      .filter(([, n]) => n > 0)
      .map(([other]) => other)
      .sort();
    return s;
  }

  private fold(c: StatusContribution, sign: 1 | -1): void {
    const n = BigInt(sign);
    for (const name of c.matched) {
      const s = this.statuses.get(name);
      if (s) s.matched += n;
    }
    const g = c.group;
    if (!g) return;
    for (const other of g.tiedWith) {
      this.tie(g.name, other, sign);
      this.tie(other, g.name, sign);
    }
    const s = this.statuses.get(g.name);
    if (!s) return;
    s.assigned += n;
    if (g.connected) s.connected += n;
    if (g.state === "applied") s.applied += n;
    else if (g.state === "applying") s.applying += n;
    else if (g.state === "failed") s.failed += n;
    if (g.unhealthy) s.unhealthy += n;
  }

  private tie(group: string, other: string, sign: 1 | -1): void {
    const ties = this.ties.get(group);
    if (ties) ties.set(other, (ties.get(other) ?? 0) + sign);
  }
}
