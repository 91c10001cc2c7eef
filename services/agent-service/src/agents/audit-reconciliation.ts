import { CommandKind, RemoteConfigState, type Agent, type AgentCommand } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import type { CommandTransition } from "./agent-model.js";
import { namespaceOf } from "./agent-namespace.js";
import { auditedCommand, auditKindOf, type AuditedCommand, type RecentRecords, type RecordedCommand } from "./command-audit-port.js";
import { hashesEqual } from "./config-hash.js";

/** What the audit trail missed: records to write (commands it never heard of), then moves of records (these and older ones). */
export interface AuditCorrections {
  records: AuditedCommand[];
  transitions: CommandTransition[];
}

/**
 * What the audit trail missed, worked out from the agent as stored. The
 * agent is written first and its audit record and transitions are sent
 * after, from memory (with retries): a process killed in between, or a
 * write that landed after the admin's call had already failed (a hung
 * database: the `stored` hook never ran), leaves the trail behind the
 * agent — no record at all for a command the agent holds, PENDING for a
 * command the agent already holds as delivered, DELIVERED for a config the
 * agent already reported applied, PENDING for a command that a newer one
 * replaced. Run when an agent comes back (its first message on a new
 * connection), and after an admin's change of it failed, this writes the
 * missing records (as `auditedCommand` would have: of the maker's kind,
 * which it takes from the command alone) and settles the open
 * ones from the one source of truth, the stored agent; a record made here
 * then takes the moves the agent's state implies like any PENDING one.
 *
 * The records must have been read before the agent: a command is stored on
 * the agent before it is recorded, so a record that is unsettled and whose
 * command is no longer on the agent was replaced (or aged out of the
 * delivered history) after it was made: superseded. A command stored after
 * the read, whose record is still on its way, is recorded a second time
 * here: command-service keeps the first record of an id and moves records
 * only forward, so the two writes end as one.
 */
export function auditCorrections(agent: Agent, recent: RecentRecords): AuditCorrections {
  const hasRecord = recordedIn(recent);
  const missing = agent.commands.filter((c) => auditKindOf(c) !== undefined && !hasRecord(c));
  const uid = instanceUidToHex(agent.metadata!.instanceUid);
  // With the command's own time: the record is written long after it was made.
  const records = missing.map((c) => ({ ...auditedCommand(uid, c, namespaceOf(agent)), ...(c.createdAt ? { createdAt: c.createdAt } : {}) }));
  const open = [...recent.records.filter((r) => r.state !== "settled"), ...missing.map((c): RecordedCommand => ({ id: c.id, state: "pending" }))];
  return { records, transitions: settledFromAgent(agent, open) };
}

/**
 * Whether the trail has (or may have) a record of a command. The trail
 * keeps every record (nothing is pruned), and lists an agent's records
 * newest first by id; a command's id is its record's id (a UUIDv7: made
 * when the command was, sorting by that time). A complete list without the
 * command: it has none. A cut list holds every record whose id sorts at or
 * after its oldest one: a command with a later id that is not in it has no
 * record; one with an earlier id may have one beyond the cut and is left
 * alone (it is older than every record looked at, so most likely recorded
 * long ago). The ids are the trail's own order, so the rule needs no clock
 * of either side.
 */
function recordedIn(recent: RecentRecords): (command: AgentCommand) => boolean {
  const ids = new Set(recent.records.map((r) => r.id));
  if (recent.complete) return (command) => ids.has(command.id);
  const oldest = recent.records.reduce<string | undefined>((min, r) => (min === undefined || r.id < min ? r.id : min), undefined);
  return (command) => ids.has(command.id) || oldest === undefined || command.id < oldest;
}

/** The moves the stored agent implies for records still PENDING or DELIVERED. */
function settledFromAgent(agent: Agent, open: readonly RecordedCommand[]): CommandTransition[] {
  const data = agent.spec?.remoteConfig?.data;
  const configOutcome =
    data?.status === RemoteConfigState.APPLIED ? ("applied" as const) : data?.status === RemoteConfigState.FAILED ? ("failed" as const) : undefined;
  const out: CommandTransition[] = [];
  for (const record of open) {
    const command = agent.commands.find((c) => c.id === record.id);
    if (!command) {
      out.push({ commandId: record.id, to: "superseded", detail: "no longer queued for the agent (settled from the stored agent)" });
      continue;
    }
    if (command.kind === CommandKind.REMOTE_CONFIG_UPDATED && configOutcome && command.deliveredAt) {
      if (hashesEqual(command.configHash, data!.hash)) {
        out.push({ commandId: record.id, to: configOutcome, detail: configOutcome === "failed" ? agent.spec!.remoteConfig!.lastErrorMessage : "" });
      } else {
        out.push({ commandId: record.id, to: "superseded", detail: "a newer remote config reached the agent" });
      }
      continue;
    }
    if (command.deliveredAt && record.state === "pending") out.push({ commandId: record.id, to: "delivered", detail: "" });
  }
  return out;
}
