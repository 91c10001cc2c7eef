import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { toConnectError } from "@fleetplane/platform-node";
import { InvalidInstanceUidError, agentLogName, instanceUidToHex, parseInstanceUid, type Logger } from "@fleetplane/platform";
import { CommandNotFoundError, InvalidCommandError, type CommandAudit } from "./domain/command-audit.js";

/** The Connect face of command-service: maps requests onto CommandAudit and errors onto codes. */
export function createCommandServiceImpl(audit: CommandAudit, logger: Logger): ServiceImpl<typeof CommandService> {
  // `context` names the agent and command a request is about, for the log line.
  const fail = (err: unknown, what: string, context: { agent?: string; command?: string } = {}): never => {
    if (err instanceof CommandNotFoundError) throw new ConnectError(err.message, Code.NotFound);
    if (err instanceof InvalidCommandError || err instanceof InvalidInstanceUidError) {
      throw new ConnectError(err.message, Code.InvalidArgument);
    }
    throw toConnectError(err, logger, what, context);
  };
  const canonicalUid = (text: string) => instanceUidToHex(parseInstanceUid(text));

  return {
    async recordCommand(req) {
      try {
        if (!req.command) throw new InvalidCommandError("RecordCommand needs a command");
        // A change to a resource names no agent.
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
    async listCommands(req) {
      try {
        const { records, nextPageToken } = await audit.list({
          pageSize: req.pageSize,
          pageToken: req.pageToken,
          ...(req.instanceUid ? { instanceUid: canonicalUid(req.instanceUid) } : {}),
          ...(req.namespace ? { namespace: req.namespace } : {}),
        });
        return { commands: records, nextPageToken };
      } catch (err) {
        return fail(err, "ListCommands", req.instanceUid ? { agent: agentLogName(req.instanceUid) } : {});
      }
    },
  };
}
