import { ConfigSource, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import type { AgentRepository, GroupTarget, RevisionQuery, StoredRevision } from "../agents/agent-repository.js";
import { hasOwnConfig } from "../agents/config-assignment.js";
import { AGENT_PAGE as PAGE } from "../agents/agent-pages.js";

/**
 * Reads agents in pages: the agent repository, so what another replica
 * stored is seen (a replica's cache holds what it last wrote of agents it
 * does not serve).
 */
export type AgentLister = Pick<AgentRepository, "list" | "listGroupTargets" | "listRevisions">;


/**
 * The agents a rollout of `group` may move: those whose configuration comes
 * from the group. Agents with their own configuration are never a
 * rollout's (a per-agent override is never touched). In instance-UID order.
 */
export function isRolloutTarget(agent: Agent, group: string): boolean {
  return rolloutGroupOf(agent) === group;
}

/** The group whose rollouts may move the agent (see isRolloutTarget); undefined when none may. One rule for the filter and the store's index. */
export function rolloutGroupOf(agent: Agent): string | undefined {
  const a = agent.spec?.assignment;
  return a?.source === ConfigSource.GROUP && !hasOwnConfig(agent) ? a.group : undefined;
}

/** The agent as a group's listing gives it. */
export function groupTargetOf(agent: Agent): GroupTarget {
  const a = agent.spec?.assignment;
  return { uid: uidOf(agent), version: a?.version ?? 0, rollout: a?.rollout ?? "" };
}

/** A group's targets read by scanning the namespace's agents: for a lister without an index of them (the driver's spec). */
export async function scanGroupTargets(list: AgentLister["list"], namespace: string, group: string, page: { limit: number; after?: string }): Promise<GroupTarget[]> {
  const agents = await list({ namespace, limit: page.limit, where: (a) => isRolloutTarget(a, group), ...(page.after ? { after: page.after } : {}) });
  return agents.map(groupTargetOf);
}

/** Every target of the group, read page by page, in instance-UID order. */
export async function groupTargets(lister: AgentLister, namespace: string, group: string): Promise<GroupTarget[]> {
  const out: GroupTarget[] = [];
  for (let after: string | undefined; ; ) {
    const page = await lister.listGroupTargets(namespace, group, { limit: PAGE, ...(after ? { after } : {}) });
    out.push(...page);
    if (page.length < PAGE) return out;
    after = page[page.length - 1]!.uid;
  }
}

/** Every agent of the namespace that `keep` accepts, read page by page, in instance-UID order. */
export async function agentsWhere(lister: AgentLister, namespace: string, keep: (agent: Agent) => boolean): Promise<Agent[]> {
  const out: Agent[] = [];
  for (let after: string | undefined; ; ) {
    const page = await lister.list({ namespace, limit: PAGE, where: keep, ...(after ? { after } : {}) });
    out.push(...page);
    if (page.length < PAGE) return out;
    after = instanceUidToHex(page[page.length - 1]!.metadata!.instanceUid);
  }
}

export const uidOf = (agent: Agent) => instanceUidToHex(agent.metadata!.instanceUid);

/** A scan of the named agents' revisions through `list`: for a lister without a revision query (the driver's spec). */
export async function scanRevisions(list: AgentLister["list"], query: RevisionQuery): Promise<StoredRevision[]> {
  const agents = await list({ namespace: query.namespace, limit: query.limit, ...(query.instanceUids ? { instanceUids: query.instanceUids } : {}), ...(query.after ? { after: query.after } : {}) });
  return agents.map((a) => ({ uid: uidOf(a), revision: a.revision }));
}
