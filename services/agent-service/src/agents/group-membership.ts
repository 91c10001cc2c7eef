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

/** What joining (or leaving) a group did to an agent. */
export interface GroupMembership {
  /** The agent changed (store it). */
  changed: boolean;
  transitions: CommandTransition[];
  /** The audit record of the group configuration command queued, if any. */
  record?: AuditedCommand;
}

/**
 * Puts the agent in the group its namespace's groups (as of `groups`) choose
 * for it, and queues that group's configuration unless the agent has its own
 * (config-assignment.ts). Used by the report path (new or re-described
 * agents), label changes and group changes alike. Undefined when the agent
 * is not in the snapshot's namespace.
 */
export function joinGroup(agent: Agent, groups: GroupSnapshot, now: number): GroupMembership | undefined {
  const namespace = namespaceOf(agent);
  if (groups.namespace !== namespace) return undefined;
  const outcome = assignConfiguration(agent, chooseGroup(groups.groups, agentSelectorKeys(agent)), {
    now,
    commandId: () => newCommandId(now),
    requestedBy: (group) => groupRequester(namespace, group),
  });
  const uid = instanceUidToHex(agent.metadata!.instanceUid);
  return {
    changed: outcome.changed,
    transitions: outcome.transitions,
    ...(outcome.command ? { record: auditedCommand(uid, "remote_config", outcome.command, namespace) } : {}),
  };
}
