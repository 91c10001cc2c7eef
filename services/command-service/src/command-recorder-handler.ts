import type { ServiceImpl } from "@connectrpc/connect";
import { CommandRecorderService } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import { AuditEntryOutcome, type AuditEntry } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import { Code, ConnectError } from "@connectrpc/connect";
import { InvalidInstanceUidError, agentLogName, type Logger } from "@fleetplane/platform";
import { InvalidCommandError, type AuditBatchEntry, type AuditEntryResult, type CommandAudit } from "./domain/command-audit.js";
import { canonicalUid, commandFailure } from "./command-service-handler.js";

/** Entries in one WriteAuditBatch call at most (the proto's word). */
export const MAX_AUDIT_BATCH = 1_000;

const OUTCOME: Record<AuditEntryResult["outcome"], AuditEntryOutcome> = {
  written: AuditEntryOutcome.WRITTEN,
  not_found: AuditEntryOutcome.NOT_FOUND,
  invalid: AuditEntryOutcome.INVALID,
};

/**
 * What agent-service calls to write the audit trail (internal: served on the
 * internal listener or in process, never on the admin API).
 */
export function createCommandRecorderImpl(audit: CommandAudit, logger: Logger): ServiceImpl<typeof CommandRecorderService> {
  const fail = commandFailure(logger);
  return {
    async recordCommand(req) {
      try {
        if (!req.command) throw new InvalidCommandError("RecordCommand needs a command");
        // A change to a resource (a group, a configuration) names no agent.
        const command = { ...req.command, instanceUid: req.command.instanceUid ? canonicalUid(req.command.instanceUid) : "" };
        return { command: await audit.record(command) };
      } catch (err) {
        return fail(err, "RecordCommand", req.command ? { agent: agentLogName(req.command.instanceUid), command: req.command.id } : {});
      }
    },
    async updateCommandState(req) {
      try {
        return { command: await audit.updateState(req.id, req.state, req.detail) };
      } catch (err) {
        return fail(err, "UpdateCommandState", { command: req.id });
      }
    },
    async writeAuditBatch(req) {
      try {
        if (req.entries.length > MAX_AUDIT_BATCH) throw new ConnectError(`entries: ${req.entries.length} in one batch, at most ${MAX_AUDIT_BATCH}`, Code.InvalidArgument);
        const results = await audit.writeBatch(req.entries.map(batchEntry));
        return { results: results.map((r) => ({ outcome: OUTCOME[r.outcome], message: r.message ?? "" })) };
      } catch (err) {
        if (err instanceof ConnectError) throw err;
        return fail(err, "WriteAuditBatch", {});
      }
    },
    async listAgentCommands(req) {
      try {
        const { records } = await audit.list({ pageSize: req.pageSize, instanceUid: canonicalUid(req.instanceUid) });
        return { commands: records };
      } catch (err) {
        return fail(err, "ListAgentCommands", { agent: agentLogName(req.instanceUid) });
      }
    },
  };
}

/** An entry as the domain takes it: the agent's UID made canonical, what cannot be read marked invalid (that entry only). */
function batchEntry(entry: AuditEntry, index: number): AuditBatchEntry {
  const e = entry.entry;
  if (e.case === "transition") return { kind: "transition", id: e.value.id, state: e.value.state, detail: e.value.detail };
  if (e.case !== "record") return { kind: "invalid", message: `entries[${index}]: neither a record nor a transition` };
  try {
    // A change to a resource (a group, a configuration) names no agent.
    return { kind: "record", record: { ...e.value, instanceUid: e.value.instanceUid ? canonicalUid(e.value.instanceUid) : "" } };
  } catch (err) {
    if (err instanceof InvalidInstanceUidError) return { kind: "invalid", message: `entries[${index}].record.instance_uid: ${err.message}` };
    throw err;
  }
}
