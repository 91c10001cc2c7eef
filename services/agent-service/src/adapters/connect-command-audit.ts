import type { Client } from "@connectrpc/connect";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { AuditEntryOutcome, CommandRecorderService, AuditEntrySchema } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { AuditBatches, type AuditBatchOptions, type AuditEntryAnswer } from "./audit-batches.js";
import type { Logger } from "@fleetplane/platform";
import { currentLink, inBatchSpan } from "@fleetplane/platform-node";
import type { CommandTransition } from "../agents/agent-model.js";
import type { CommandAuditPort, RecordedCommand } from "../agents/command-audit-port.js";

/** An entry as sent, and the span of the work that made it (the batch's span links to it). */
interface Entry {
  init: MessageInitShape<typeof AuditEntrySchema>;
  link: ReturnType<typeof currentLink>;
  /** Held for the move that replaces it (DELIVERED_HOLD_MS): a delivered config, whose report follows. */
  held?: boolean;
}

const STATE: Record<CommandTransition["to"], CommandState> = {
  delivered: CommandState.DELIVERED,
  applied: CommandState.APPLIED,
  failed: CommandState.FAILED,
  superseded: CommandState.SUPERSEDED,
};

/**
 * How long a config's "delivered" (CommandTransition.awaitsReport) waits for
 * the "applied" (or "failed") that follows it moments later and replaces it
 * (AuditBatches' holdMs): one
 * write of the record fewer per config an agent applies — in a rollout, per
 * moved agent. The record reads PENDING meanwhile; a process that dies
 * within it loses the move as one that dies before a call would, and the
 * agent's return settles it (audit-reconciliation.ts).
 */
export const DELIVERED_HOLD_MS = 1_000;

/**
 * Whether a later state change of a command makes a queued, unsent earlier
 * one unnecessary: command-service moves a record only forward (a change to
 * a state not past the record's is kept out), so "delivered" then a final
 * state (applied, failed, superseded) leaves the record as the final state
 * alone does, whatever state it was in.
 */
export function replacesDelivered(later: MessageInitShape<typeof AuditEntrySchema>, earlier: MessageInitShape<typeof AuditEntrySchema>): boolean {
  const a = earlier.entry;
  const b = later.entry;
  return a?.case === "transition" && b?.case === "transition" && a.value.state === CommandState.DELIVERED && FINAL.has(b.value.state ?? CommandState.UNSPECIFIED);
}

const FINAL = new Set([CommandState.APPLIED, CommandState.FAILED, CommandState.SUPERSEDED]);

/**
 * Records of one agent looked at when it is reconciled (newest first): a
 * record that missed its transition, or a command that missed its record,
 * belongs to the last commands the agent was given.
 */
const RECENT_LOOKBACK = 100;

/** A record's state as reconciliation reads it: only PENDING and DELIVERED may still move. */
function recordedState(state: CommandState): RecordedCommand["state"] {
  return state === CommandState.PENDING ? "pending" : state === CommandState.DELIVERED ? "delivered" : "settled";
}

const ANSWER: Record<AuditEntryOutcome, AuditEntryAnswer["outcome"]> = {
  [AuditEntryOutcome.UNSPECIFIED]: "invalid",
  [AuditEntryOutcome.WRITTEN]: "written",
  [AuditEntryOutcome.NOT_FOUND]: "not_found",
  [AuditEntryOutcome.INVALID]: "invalid",
};

export interface ConnectCommandAuditOptions extends Omit<AuditBatchOptions<Entry>, "send" | "logger" | "holdMs" | "replaces"> {
  /** How long a delivered config's move waits for the one that replaces it. Default DELIVERED_HOLD_MS. */
  deliveredHoldMs?: number;
}

/**
 * The audit trail through command-service's Connect API: records and state
 * changes gathered into WriteAuditBatch calls (audit-batches.ts: in order
 * for each command, a failed call sent again, the queue bounded, every loss
 * counted and logged). The agent already holds each command, so the audit
 * catches up rather than failing the admin's call.
 */
export function createConnectCommandAudit(
  client: Client<typeof CommandRecorderService>,
  logger: Logger,
  options: ConnectCommandAuditOptions = {},
): CommandAuditPort & { drain(timeoutMs?: number): Promise<void>; readonly queued: number } {
  const { deliveredHoldMs = DELIVERED_HOLD_MS, ...rest } = options;
  const batches = new AuditBatches<Entry>({
    ...rest,
    holdMs: (e) => (e.held ? deliveredHoldMs : 0),
    replaces: (later, earlier) => replacesDelivered(later.init, earlier.init),
    logger,
    send: async (entries) => {
      // An admin's call, a report: each entry's own trace is linked from the batch's (tracing.ts).
      const { results } = await inBatchSpan("fleetplane.audit_batch", () => entries.map((e) => e.link), entries.length, () => client.writeAuditBatch({ entries: entries.map((e) => e.init) }));
      return results.map((r): AuditEntryAnswer => {
        const outcome = ANSWER[r.outcome] ?? "invalid";
        return outcome === "written" ? { outcome } : { outcome, message: r.message || `outcome ${r.outcome}` };
      });
    },
  });
  return {
    record({ done, ...command }) {
      return batches.add({
        command: command.id,
        context: { agent: command.instanceUid, command: command.id },
        entry: { init: { entry: { case: "record", value: { ...command, state: done ? CommandState.APPLIED : CommandState.PENDING } } }, link: currentLink() },
      });
    },
    recordChange(change) {
      return batches.add({
        command: change.id,
        context: { namespace: change.namespace, resource: change.resource, command: change.id },
        entry: { init: { entry: { case: "record", value: { ...change, state: CommandState.APPLIED } } }, link: currentLink() },
      });
    },
    transition(instanceUid, t) {
      return batches.add({
        command: t.commandId,
        context: { agent: instanceUid, command: t.commandId, to: t.to },
        entry: { init: { entry: { case: "transition", value: { id: t.commandId, state: STATE[t.to], detail: t.detail } } }, link: currentLink(), held: t.to === "delivered" && t.awaitsReport === true },
      });
    },
    async recent(instanceUid) {
      const { commands } = await client.listAgentCommands({ instanceUid, pageSize: RECENT_LOOKBACK });
      // ListAgentCommands answers a full page when it has one (no page token):
      // fewer than asked for is all there is.
      return { records: commands.map((c) => ({ id: c.id, state: recordedState(c.state) })), complete: commands.length < RECENT_LOOKBACK };
    },
    drain: (timeoutMs) => batches.drain(timeoutMs),
    get queued() {
      return batches.queued;
    },
  };
}
