import { ConfigSource, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import type { AgentRepository, GroupTarget, RevisionQuery, StoredRevision } from "../agents/agent-repository.js";
import { hasOwnConfig } from "../agents/config-assignment.js";
import { agentsNamed } from "../agents/agent-pages.js";
import { availableComponents, componentsKeyOf, NO_COMPONENTS, type PreflightAgent } from "./preflight.js";

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

/**
 * Targets read per store call. A target is a uid, a version and a pin (and a
 * components key), nothing decoded, so a page can be large: on FerretDB 2.7
 * each page costs ~33 ms whatever its size (10,000 targets: 21 pages of 500
 * in 0.71–0.75 s, 3 pages of 5,000 in 0.15–0.18 s, docs/performance.md §34),
 * and a rollout lists its group at its start and at each stage's start.
 */
export const GROUP_TARGET_PAGE = 5_000;

/** Every target of the group, read page by page, in instance-UID order. `components`: with each one's components key (see GroupTarget). */
export async function groupTargets(lister: Pick<AgentLister, "listGroupTargets">, namespace: string, group: string, o: { components?: boolean } = {}): Promise<GroupTarget[]> {
  const out: GroupTarget[] = [];
  for (let after: string | undefined; ; ) {
    const page = await lister.listGroupTargets(namespace, group, { limit: GROUP_TARGET_PAGE, ...(after ? { after } : {}), ...(o.components ? { components: true } : {}) });
    for (const t of page) out.push(t);
    if (page.length < GROUP_TARGET_PAGE) return out;
    after = page[page.length - 1]!.uid;
  }
}

/**
 * The group's targets as a preflight judges them, in instance-UID order,
 * without decoding every agent: the group's listing gives each one's
 * components key (componentsKeyOf), and the components are read from one
 * agent per distinct key — a fleet runs a few collector builds, so 10,000
 * agents cost a handful of reads. Agents whose key the store lacks (stored
 * before it was copied) are read whole, as is every agent of a key whose
 * agent read no longer carries it (it reported anew between the two reads).
 */
export async function preflightTargets(lister: Pick<AgentLister, "list" | "listGroupTargets">, namespace: string, group: string): Promise<PreflightAgent[]> {
  const targets = await groupTargets(lister, namespace, group, { components: true });
  const byKey = new Map<string, string[]>();
  const whole: string[] = [];
  for (const t of targets) {
    if (t.components === undefined) whole.push(t.uid);
    else if (t.components !== NO_COMPONENTS) {
      const uids = byKey.get(t.components);
      if (uids) uids.push(t.uid);
      else byKey.set(t.components, [t.uid]);
    }
  }
  const available = new Map<string, Set<string> | undefined>();
  // The first agent of each key, read together in pages: never more reads than one pass over the targets.
  const read = new Map((await agentsNamed(lister, namespace, [...byKey.values()].map((uids) => uids[0]!))).map((a) => [uidOf(a), a]));
  for (const [key, uids] of byKey) {
    const one = read.get(uids[0]!);
    if (one && componentsKeyOf(one) === key) {
      const set = availableComponents(one);
      for (const uid of uids) available.set(uid, set);
    } else whole.push(...uids);
  }
  for (const a of await agentsNamed(lister, namespace, whole)) if (isRolloutTarget(a, group)) available.set(uidOf(a), availableComponents(a));
  // An agent read whole that left the group (or was deleted) between the reads is no target any more.
  return targets.filter((t) => t.components === NO_COMPONENTS || available.has(t.uid)).map((t) => ({ uid: t.uid, available: available.get(t.uid) }));
}

export const uidOf = (agent: Agent) => instanceUidToHex(agent.metadata!.instanceUid);

/** A scan of the named agents' revisions through `list`: for a lister without a revision query (the driver's spec). */
export async function scanRevisions(list: AgentLister["list"], query: RevisionQuery): Promise<StoredRevision[]> {
  const agents = await list({ namespace: query.namespace, limit: query.limit, ...(query.instanceUids ? { instanceUids: query.instanceUids } : {}), ...(query.after ? { after: query.after } : {}) });
  return agents.map((a) => ({ uid: uidOf(a), revision: a.revision }));
}
