import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import { agentSelectorKeys } from "../fleet/agent-selector-keys.js";
import type { GroupSnapshot } from "../fleet/group-catalog.js";
import { chooseGroup } from "../fleet/group-precedence.js";
import type { CommandTransition } from "./agent-model.js";
import { namespaceOf } from "./agent-namespace.js";
import { auditedCommand, type AuditedCommand } from "./command-audit-port.js";
import { newCommandId } from "./command-id.js";
import { assignConfiguration, groupRequester } from "./config-assignment.js";
import { applyGroupOffers } from "./group-offers.js";

/** What joining (or leaving) a group did to an agent. */
export interface GroupMembership {
  /** The agent changed (store it). */
  changed: boolean;
  transitions: CommandTransition[];
  /** The audit records of the commands queued for the group (configuration, connection settings, packages). */
  records: AuditedCommand[];
}

/**
 * Puts the agent in the group its namespace's groups (as of `groups`) choose
 * for it, and queues that group's configuration and offers unless the agent
 * has its own (config-assignment.ts, group-offers.ts). Used by the report path (new or re-described
 * agents), label changes and group changes alike. Undefined when the agent
 * is not in the snapshot's namespace.
 */
export function joinGroup(agent: Agent, groups: GroupSnapshot, now: number): GroupMembership | undefined {
  const namespace = namespaceOf(agent);
  if (groups.namespace !== namespace) return undefined;
  const choice = chooseGroup(groups.groups, agentSelectorKeys(agent));
  const commandId = () => newCommandId(now);
  const outcome = assignConfiguration(agent, choice, { now, commandId, requestedBy: (group) => groupRequester(namespace, group) });
  const offers = applyGroupOffers(agent, choice.winner, { now, commandId, requestedBy: groupRequester(namespace, choice.winner?.group.name ?? "") });
  const uid = instanceUidToHex(agent.metadata!.instanceUid);
  const records = offers.commands.map((command) => auditedCommand(uid, command, namespace));
  if (outcome.command) records.unshift(auditedCommand(uid, outcome.command, namespace));
  return { changed: outcome.changed || offers.changed, transitions: [...outcome.transitions, ...offers.transitions], records };
}
