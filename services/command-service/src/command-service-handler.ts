import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { toConnectError } from "@fleetplane/platform-node";
import { InvalidInstanceUidError, agentLogName, instanceUidToHex, parseInstanceUid, type Logger } from "@fleetplane/platform";
import { CommandNotFoundError, InvalidCommandError, type CommandAudit } from "./domain/command-audit.js";

/** command-service's errors as Connect codes; `context` names the agent and command a request is about, for the log line. */
export function commandFailure(logger: Logger) {
  return (err: unknown, what: string, context: { agent?: string; command?: string } = {}): never => {
    if (err instanceof CommandNotFoundError) throw new ConnectError(err.message, Code.NotFound);
    if (err instanceof InvalidCommandError || err instanceof InvalidInstanceUidError) {
      throw new ConnectError(err.message, Code.InvalidArgument);
    }
    throw toConnectError(err, logger, what, context);
  };
}

export const canonicalUid = (text: string) => instanceUidToHex(parseInstanceUid(text));

/** The admin face of command-service: reading the audit trail (agent-service writes it through CommandRecorderService). */
export function createCommandServiceImpl(audit: CommandAudit, logger: Logger): ServiceImpl<typeof CommandService> {
  const fail = commandFailure(logger);

  return {
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
