import { create } from "@bufbuild/protobuf";
import type { AgentConfigMap } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { CommandKind, ConfigAssignmentSchema, ConfigSource, type Agent, type AgentCommand, type ConfigAssignment } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { GroupChoice } from "../fleet/group-precedence.js";
import { applyRemoteConfig, supersedeUndelivered, type CommandTransition } from "./agent-model.js";
import { hashesEqual } from "./config-hash.js";

/**
 * Where an agent's desired configuration comes from, in order of precedence:
 *
 * | source    | when                                             | config sent               |
 * |-----------|--------------------------------------------------|---------------------------|
 * | per-agent | an admin set one (SetRemoteConfig), not cleared  | that one                  |
 * | group X   | else: X is the highest-priority matching group   | X's configuration version |
 * |           | (ties: the name that sorts first)                |                           |
 * | none      | else                                             | nothing                   |
 *
 * Agents stored before assignments existed that carry a remote config got it
 * from an admin: they read as per-agent.
 *
 * A rollout pins versions: an agent a rollout of its group gave a version
 * (assignment.rollout) keeps it while the group still names that rollout
 * (Group.rollout), whatever the group's own version says. One comparison,
 * so the report path never evaluates a rollout.
 */
export function hasOwnConfig(agent: Agent): boolean {
  const source = agent.spec?.assignment?.source ?? ConfigSource.NONE;
  return source === ConfigSource.AGENT || (source === ConfigSource.NONE && agent.spec?.remoteConfig?.data !== undefined);
}

export interface AssignmentOptions {
  now: number;
  /** A command id, asked for only when a command is queued (a UUIDv7 costs a random read). */
  commandId: () => string;
  /** Who the command is recorded as coming from, for a group: "group <namespace>/<name>". */
  requestedBy: (group: string) => string;
}

export interface AssignmentOutcome {
  /** The agent changed (store it). */
  changed: boolean;
  /** A RemoteConfigUpdated command queued for the group's configuration (to record in the audit trail). */
  command?: AgentCommand;
  transitions: CommandTransition[];
}

/**
 * Applies a group choice to an agent: a per-agent config stays (only the
 * matching group is noted); otherwise the winning group's version becomes
 * the desired config (a RemoteConfigUpdated command, as for an admin's
 * config), or, when no group matches any more, a group's config is dropped.
 * Nothing changes when the agent already has what the choice says.
 */
export function assignConfiguration(agent: Agent, choice: GroupChoice, options: AssignmentOptions): AssignmentOutcome {
  const spec = (agent.spec ??= {} as NonNullable<Agent["spec"]>);
  const current = spec.assignment;
  const next = desiredAssignment(agent, choice);
  if (assignmentUpToDate(agent, choice, next)) return { changed: false, transitions: [] };
  if (next.rollout !== "") {
    // A rollout's pin holds: its version's files are already desired.
    spec.assignment = next;
    return { changed: true, transitions: [] };
  }
  if (next.source === ConfigSource.GROUP) {
    const winner = choice.winner!;
    if (hashesEqual(spec.remoteConfig?.data?.hash, winner.hash) && current?.source === ConfigSource.GROUP) {
      // Same files under another group or version: nothing to send.
      spec.assignment = next;
      return { changed: true, transitions: [] };
    }
    const { command, transitions } = applyRemoteConfig(agent, winner.config, {
      commandId: options.commandId(),
      requestedBy: options.requestedBy(winner.group.name),
      now: options.now,
    });
    spec.assignment = next;
    return { changed: true, command, transitions };
  }
  const transitions = current?.source === ConfigSource.GROUP && next.source === ConfigSource.NONE ? dropGroupConfig(agent) : [];
  spec.assignment = next;
  return { changed: true, transitions };
}

/** The assignment a group choice gives the agent (its own config keeps precedence; a rollout's pin holds). */
function desiredAssignment(agent: Agent, choice: GroupChoice): ConfigAssignment {
  const w = choice.winner?.group;
  const current = agent.spec?.assignment;
  if (w && current && !hasOwnConfig(agent) && pinHolds(current, w)) return create(ConfigAssignmentSchema, { ...current, tiedWith: choice.tiedWith });
  return create(ConfigAssignmentSchema, {
    source: hasOwnConfig(agent) ? ConfigSource.AGENT : w ? ConfigSource.GROUP : ConfigSource.NONE,
    group: w?.name ?? "",
    configuration: w?.configuration ?? "",
    version: w?.configurationVersion ?? 0,
    tiedWith: choice.tiedWith,
  });
}

/**
 * Whether the agent already has what the choice says (nothing to store or
 * send): the same assignment and, for a group, that group's files. Lets a
 * group change find the agents it moves without changing the others.
 */
export function assignmentUpToDate(agent: Agent, choice: GroupChoice, next: ConfigAssignment = desiredAssignment(agent, choice)): boolean {
  const current = agent.spec?.assignment;
  const same =
    current !== undefined &&
    current.source === next.source &&
    current.group === next.group &&
    current.configuration === next.configuration &&
    current.version === next.version &&
    current.rollout === next.rollout &&
    current.tiedWith.join("\n") === next.tiedWith.join("\n");
  if (!same) return false;
  // A pinned version's files were set by the rollout that pinned it.
  return next.source !== ConfigSource.GROUP || next.rollout !== "" || hashesEqual(agent.spec?.remoteConfig?.data?.hash, choice.winner!.hash);
}

/** Whether a rollout's pin on the agent still holds: its group names that rollout. */
export function pinHolds(assignment: ConfigAssignment, group: { name: string; rollout: string; configuration: string }): boolean {
  return assignment.source === ConfigSource.GROUP && assignment.rollout !== "" && assignment.group === group.name && assignment.rollout === group.rollout && assignment.configuration === group.configuration;
}

/** Makes the agent's own config no longer its own: the next assignment decides (ClearRemoteConfig). */
export function clearOwnConfig(agent: Agent): CommandTransition[] {
  const spec = (agent.spec ??= {} as NonNullable<Agent["spec"]>);
  const transitions = dropGroupConfig(agent);
  spec.assignment = create(ConfigAssignmentSchema, { source: ConfigSource.NONE });
  return transitions;
}

/** Marks the agent's own config as set by an admin (SetRemoteConfig). */
export function markOwnConfig(agent: Agent): void {
  const spec = (agent.spec ??= {} as NonNullable<Agent["spec"]>);
  const current = spec.assignment;
  spec.assignment = create(ConfigAssignmentSchema, {
    source: ConfigSource.AGENT,
    group: current?.group ?? "",
    configuration: current?.configuration ?? "",
    version: current?.version ?? 0,
    tiedWith: current?.tiedWith ?? [],
  });
}

/** No desired config any more: an undelivered RemoteConfigUpdated is superseded, the agent keeps what it runs. */
function dropGroupConfig(agent: Agent): CommandTransition[] {
  const transitions = supersedeUndelivered(agent, CommandKind.REMOTE_CONFIG_UPDATED, "the configuration it carried is no longer desired");
  delete agent.spec!.remoteConfig;
  return transitions;
}

/** Who a group's configuration command is recorded as coming from. */
export function groupRequester(namespace: string, group: string): string {
  return `group ${namespace}/${group}`;
}

/** What a rollout gives one agent of its group: `version` of the group's configuration, pinned by `rollout`. */
export interface RolloutPin {
  group: string;
  configuration: string;
  version: number;
  rollout: string;
  config: AgentConfigMap;
  hash: Uint8Array;
}

/**
 * Pins a rollout's version on an agent of the group (a stage, a rollback, a
 * hold). Agents with their own configuration or in another group are never
 * touched: "not in the group" says why. Nothing changes when the pin is there.
 */
export function pinVersion(agent: Agent, pin: RolloutPin, options: Omit<AssignmentOptions, "requestedBy"> & { requestedBy: string }): AssignmentOutcome | "not in the group" | "own configuration" {
  const spec = (agent.spec ??= {} as NonNullable<Agent["spec"]>);
  const current = spec.assignment;
  if (hasOwnConfig(agent)) return "own configuration";
  if (current?.source !== ConfigSource.GROUP || current.group !== pin.group) return "not in the group";
  const next = create(ConfigAssignmentSchema, { ...current, configuration: pin.configuration, version: pin.version, rollout: pin.rollout });
  const sameFiles = hashesEqual(spec.remoteConfig?.data?.hash, pin.hash);
  const sameAssignment = current.configuration === next.configuration && current.version === next.version && current.rollout === next.rollout;
  if (sameFiles && sameAssignment) return { changed: false, transitions: [] };
  spec.assignment = next;
  if (sameFiles) return { changed: true, transitions: [] };
  const { command, transitions } = applyRemoteConfig(agent, pin.config, { commandId: options.commandId(), requestedBy: options.requestedBy, now: options.now });
  return { changed: true, command, transitions };
}
