import { CommandKind, RemoteConfigState, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { CommandTransition } from "./agent-model.js";
import { hashesEqual } from "./config-hash.js";

/** An audit record that has not reached a final state, as the audit trail holds it. */
export interface UnsettledCommand {
  id: string;
  state: "pending" | "delivered";
}

/**
 * What the audit trail missed, worked out from the agent as stored. The
 * agent is written first and its audit transitions are sent after, from
 * memory (with retries): a process killed in between leaves records behind
 * the agent — PENDING for a command the agent already holds as delivered,
 * DELIVERED for a config the agent already reported applied, PENDING for a
 * command that a newer one replaced. Run when an agent comes back (its first
 * message on a new connection), this settles them from the one source of
 * truth, the stored agent.
 *
 * The records must have been read before the agent: a command is stored on
 * the agent before it is recorded, so a record that is unsettled and whose
 * command is no longer on the agent was replaced (or aged out of the
 * delivered history) after it was made: superseded.
 */
export function auditCorrections(agent: Agent, unsettled: readonly UnsettledCommand[]): CommandTransition[] {
  const data = agent.spec?.remoteConfig?.data;
  const configOutcome =
    data?.status === RemoteConfigState.APPLIED ? ("applied" as const) : data?.status === RemoteConfigState.FAILED ? ("failed" as const) : undefined;
  const out: CommandTransition[] = [];
  for (const record of unsettled) {
    const command = agent.commands.find((c) => c.id === record.id);
    if (!command) {
      out.push({ commandId: record.id, to: "superseded", detail: "no longer queued for the agent (settled when the agent reconnected)" });
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
