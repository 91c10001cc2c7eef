import type { Client } from "@connectrpc/connect";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { CommandRecorderService } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import type { Logger } from "@fleetplane/platform";
import type { CommandTransition } from "../agents/agent-model.js";
import type { CommandAuditPort } from "../agents/command-audit-port.js";
import type { UnsettledCommand } from "../agents/audit-reconciliation.js";

const STATE: Record<CommandTransition["to"], CommandState> = {
  delivered: CommandState.DELIVERED,
  applied: CommandState.APPLIED,
  failed: CommandState.FAILED,
  superseded: CommandState.SUPERSEDED,
};

/** Records of one agent looked at when it comes back (newest first). */
const UNSETTLED_LOOKBACK = 100;

/**
 * The audit trail through command-service's Connect API. Writes that fail
 * (command-service restarting, say) are retried with backoff, in order for
 * each command; the agent already holds each command, so the audit catches
 * up rather than failing the admin's call. Nothing is dropped silently: a write that still
 * fails after every retry is logged as an error with the full record.
 */
export function createConnectCommandAudit(
  client: Client<typeof CommandRecorderService>,
  logger: Logger,
  options: { retries?: number; backoffMs?: number } = {},
): CommandAuditPort & { drain(): Promise<void> } {
  const retries = options.retries ?? 8;
  const backoffMs = options.backoffMs ?? 250;
  // One chain per command: its record and transitions go out in order, while
  // different commands are written concurrently (a single queue for all of
  // them capped admin calls at one audit write at a time).
  const chains = new Map<string, Promise<void>>();
  const attempt = async (what: string, context: object, call: () => Promise<unknown>, firstTried: () => void) => {
    for (let i = 0; ; i++) {
      try {
        await call();
        firstTried();
        return;
      } catch (err) {
        if (i >= retries) {
          logger.error({ ...context, err }, `audit: ${what} failed after ${retries} retries; the audit trail misses this entry`);
          return;
        }
        firstTried();
        logger.warn({ ...context, err: String(err), attempt: i + 1 }, `audit: ${what} failed; retrying`);
        await new Promise((r) => setTimeout(r, backoffMs * 2 ** Math.min(i, 5)));
      }
    }
  };
  // The returned promise settles after the first try: callers wait for a
  // healthy command-service, but not for the retries of a sick one.
  const enqueue = (commandId: string, what: string, context: object, call: () => Promise<unknown>) =>
    new Promise<void>((resolve) => {
      const tail = (chains.get(commandId) ?? Promise.resolve()).then(() => attempt(what, context, call, resolve));
      chains.set(commandId, tail);
      void tail.then(() => {
        if (chains.get(commandId) === tail) chains.delete(commandId);
      });
    });

  return {
    record({ done, ...command }) {
      return enqueue(command.id, "record", { agent: command.instanceUid, command: command.id }, () =>
        client.recordCommand({ command: { ...command, state: done ? CommandState.APPLIED : CommandState.PENDING } }),
      );
    },
    recordChange(change) {
      return enqueue(change.id, "record", { namespace: change.namespace, resource: change.resource, command: change.id }, () =>
        client.recordCommand({ command: { ...change, state: CommandState.APPLIED } }),
      );
    },
    transition(instanceUid, t) {
      return enqueue(t.commandId, `mark ${t.to}`, { agent: instanceUid, command: t.commandId }, () =>
        client.updateCommandState({ id: t.commandId, state: STATE[t.to], detail: t.detail }),
      );
    },
    async unsettled(instanceUid) {
      // The newest records of the agent: a record that missed its transition
      // belongs to the last commands the agent was given.
      const { commands } = await client.listAgentCommands({ instanceUid, pageSize: UNSETTLED_LOOKBACK });
      return commands.flatMap((c): UnsettledCommand[] =>
        c.state === CommandState.PENDING ? [{ id: c.id, state: "pending" }] : c.state === CommandState.DELIVERED ? [{ id: c.id, state: "delivered" }] : [],
      );
    },
    async drain() {
      while (chains.size > 0) await Promise.all(chains.values());
    },
  };
}
