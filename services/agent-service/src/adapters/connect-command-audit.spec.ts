import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { AuditEntryOutcome, WriteAuditBatchResponseSchema, type CommandRecorderService, type WriteAuditBatchRequest } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { silentLogger } from "@fleetplane/platform";
import { describe, expect, it, vi } from "vitest";
import { createConnectCommandAudit, replacesDelivered } from "./connect-command-audit.js";

const move = (state: CommandState) => ({ entry: { case: "transition" as const, value: { id: "c1", state, detail: "" } } });

describe("the Connect audit trail", () => {
  it("lets only a final state replace a delivered one: the record ends the same with the final state alone", () => {
    for (const final of [CommandState.APPLIED, CommandState.FAILED, CommandState.SUPERSEDED]) expect(replacesDelivered(move(final), move(CommandState.DELIVERED))).toBe(true);
    expect(replacesDelivered(move(CommandState.DELIVERED), move(CommandState.DELIVERED))).toBe(false);
    expect(replacesDelivered(move(CommandState.FAILED), move(CommandState.APPLIED))).toBe(false);
    expect(replacesDelivered(move(CommandState.APPLIED), { entry: { case: "record", value: { id: "c1", state: CommandState.PENDING } } })).toBe(false);
  });

  it("writes a delivered config's move and its applied one as one entry, and a delivered restart at once", async () => {
    const sent: WriteAuditBatchRequest[] = [];
    const client = {
      writeAuditBatch: async (req: WriteAuditBatchRequest) => {
        sent.push(req);
        return create(WriteAuditBatchResponseSchema, { results: req.entries.map(() => ({ outcome: AuditEntryOutcome.WRITTEN })) });
      },
    } as unknown as Client<typeof CommandRecorderService>;
    // Held far longer than the spec runs: only the applied move or the drain sends it.
    const audit = createConnectCommandAudit(client, silentLogger(), { deliveredHoldMs: 600_000 });
    const states = () => sent.flatMap((r) => r.entries.map((e) => (e.entry.case === "transition" ? `${e.entry.value.id}:${CommandState[e.entry.value.state]}` : "record")));

    void audit.transition("a1", { commandId: "restart", to: "delivered", detail: "" });
    void audit.transition("a1", { commandId: "config", to: "delivered", detail: "", awaitsReport: true });
    await vi.waitFor(() => expect(states()).toEqual(["restart:DELIVERED"]), { timeout: 500, interval: 1 });
    void audit.transition("a1", { commandId: "config", to: "applied", detail: "" });
    await audit.drain();
    expect(states()).toEqual(["restart:DELIVERED", "config:APPLIED"]);
  });
});
