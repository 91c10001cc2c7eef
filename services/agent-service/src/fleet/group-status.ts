import { create } from "@bufbuild/protobuf";
import { ConfigSource, RemoteConfigState, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { GroupStatusSchema, type Group, type GroupStatus } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { agentSelectorKeys } from "./agent-selector-keys.js";
import { matchesSelector } from "./label-selector.js";

/**
 * Counts for a set of groups, folded one agent at a time so the agents of a
 * namespace can be read in pages and never held at once. "matched": the
 * selector matches (whichever group won the agent); the rest count the
 * agents whose configuration comes from the group. A tie is shown on both
 * groups: the winner lists the groups its agents also matched, and each of
 * those lists the winner.
 */
export class GroupStatusCounter {
  private readonly statuses = new Map<string, GroupStatus>();
  private readonly ties = new Map<string, Set<string>>();

  constructor(private readonly groups: readonly Group[]) {
    for (const g of groups) {
      this.statuses.set(g.name, create(GroupStatusSchema));
      this.ties.set(g.name, new Set());
    }
  }

  add(agent: Agent): void {
    const lookup = agentSelectorKeys(agent);
    for (const g of this.groups) if (matchesSelector(g.selector, lookup)) this.statuses.get(g.name)!.matched++;
    const a = agent.spec?.assignment;
    if (a?.source !== ConfigSource.GROUP) return;
    for (const other of a.tiedWith) {
      this.ties.get(a.group)?.add(other);
      this.ties.get(other)?.add(a.group);
    }
    const s = this.statuses.get(a.group);
    if (!s) return;
    s.assigned++;
    if (agent.status?.connected) s.connected++;
    const state = agent.spec?.remoteConfig?.data?.status;
    if (state === RemoteConfigState.APPLIED) s.applied++;
    else if (state === RemoteConfigState.APPLYING) s.applying++;
    else if (state === RemoteConfigState.FAILED) s.failed++;
    if (agent.status?.health && !agent.status.health.healthy) s.unhealthy++;
  }

  status(name: string): GroupStatus {
    const s = this.statuses.get(name)!;
    s.tiedWith = [...(this.ties.get(name) ?? [])].sort();
    return s;
  }
}
