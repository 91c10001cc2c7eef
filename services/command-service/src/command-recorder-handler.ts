import type { ServiceImpl } from "@connectrpc/connect";
import { CommandRecorderService } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import { agentLogName, type Logger } from "@fleetplane/platform";
import { InvalidCommandError, type CommandAudit } from "./domain/command-audit.js";
import { canonicalUid, commandFailure } from "./command-service-handler.js";

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
