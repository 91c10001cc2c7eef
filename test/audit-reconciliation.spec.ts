import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { AdminCommands, AgentReports, AgentStore, createConnectCommandAudit, createLmdbAgentRepository, type AgentRepository, type CommandAuditPort } from "@fleetplane/agent-service";
import { CommandAudit, createCommandRecorderImpl, createLmdbCommandRepository } from "@fleetplane/command-service";
import { CommandKind, ConnectionSchema, ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { CommandRecorderService } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { AgentCapabilities, AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { DependencyUnavailableError, instanceUidToHex, silentLogger, uuidv7Bytes } from "@fleetplane/platform";
import { createInProcessPushBus } from "@fleetplane/platform-node";
import { openEmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { eventually } from "./support/eventually.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * agent-service's agent store, report path and admin commands, auditing
 * through its Connect audit adapter to command-service's recorder (in-memory
 * Connect transport), each on its own embedded store, as standalone runs
 * them. `faults`: the audit port loses the records it is handed (as a
 * process killed right after the agent's write would), or the agents'
 * store fails a write it made (a timed-out write the database applied).
 */
function setup() {
  const dirs = [mkdtempSync(join(tmpdir(), "fleetplane-audit-agents-")), mkdtempSync(join(tmpdir(), "fleetplane-audit-commands-"))];
  const [agentsDb, commandsDb] = dirs.map((d) => openEmbeddedStore(d));
  const recorder = createClient(
    CommandRecorderService,
    createRouterTransport(({ service }) => service(CommandRecorderService, createCommandRecorderImpl(new CommandAudit(createLmdbCommandRepository(commandsDb!)), silentLogger()))),
  );
  // A move of a command without a record is given up at once (not after its retries, which wait for a record on its way).
  const connectAudit = createConnectCommandAudit(recorder, silentLogger(), { notFoundTries: 1 });
  const faults = { loseRecords: false, failWrites: false };
  const audit: CommandAuditPort = { ...connectAudit, record: (command) => (faults.loseRecords ? Promise.resolve() : connectAudit.record(command)) };
  const repository = createLmdbAgentRepository(agentsDb!);
  const agents: AgentRepository = {
    ...repository,
    save: async (agent) => {
      await repository.save(agent);
      if (faults.failWrites) throw new DependencyUnavailableError("MongoDB");
    },
  };
  const store = new AgentStore({ agents, audit, logger: silentLogger() });
  const reports = new AgentReports({ store, logger: silentLogger(), auditReconcileDelayMs: 100 });
  const commands = new AdminCommands({ store, audit, push: createInProcessPushBus(), reconcile: (uid) => reports.reconcileLater(uid) });
  cleanups.push(async () => {
    await store.close();
    await connectAudit.drain();
    await agentsDb!.close();
    await commandsDb!.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const records = async (uid: string) => (await recorder.listAgentCommands({ instanceUid: uid, pageSize: 100 })).commands;
  return { store, reports, commands, faults, records, drain: () => connectAudit.drain() };
}

const ws = (id: string) => create(ConnectionSchema, { id, type: ConnectionType.WEBSOCKET, gatewayId: "gw", gatewayEpoch: "epoch-1" });
const capabilities = BigInt(AgentCapabilities.AgentCapabilities_AcceptsRestartCommand);
const message = (uid: Uint8Array, sequenceNum: bigint) => create(AgentToServerSchema, { instanceUid: uid, sequenceNum, capabilities });

/** A new agent that takes restarts, connected on `connectionId`. */
async function connectedAgent(t: ReturnType<typeof setup>, connectionId: string): Promise<{ bytes: Uint8Array; uid: string }> {
  const bytes = uuidv7Bytes();
  await t.reports.reportMessage(ws(connectionId), message(bytes, 0n));
  return { bytes, uid: instanceUidToHex(bytes) };
}

describe("the audit trail catches up with the agents' commands", () => {
  it("records a command whose record was lost when its agent comes back, in the state the agent holds it", async () => {
    const t = setup();
    const { bytes, uid } = await connectedAgent(t, "first");
    t.faults.loseRecords = true;
    const { command } = await t.commands.sendCommand(uid, CommandKind.RESTART, "alice");
    t.faults.loseRecords = false;
    // The agent takes the restart; its "delivered" finds no record to move.
    expect((await t.reports.pull(uid, "first")).message?.command).toBeDefined();
    await t.drain();
    expect((await t.records(uid)).map((r) => r.id)).not.toContain(command.id);

    await t.reports.reportMessage(ws("second"), message(bytes, 1n));
    const record = await eventually(async () => (await t.records(uid)).find((r) => r.id === command.id && r.state === CommandState.DELIVERED), 10_000, "the restart's record, delivered");
    expect(record).toMatchObject({ kind: "restart", requestedBy: "alice", namespace: "default", createdAt: command.createdAt });
  });

  it("records a command whose write failed on an unavailable store but landed, without waiting for the agent to reconnect", async () => {
    const t = setup();
    const { uid } = await connectedAgent(t, "only");
    t.faults.failWrites = true;
    await expect(t.commands.sendCommand(uid, CommandKind.RESTART, "alice")).rejects.toBeInstanceOf(DependencyUnavailableError);
    t.faults.failWrites = false;
    const stored = (await t.store.getAgent(uid)).commands.find((c) => c.kind === CommandKind.RESTART);
    expect(stored).toBeDefined();
    const record = await eventually(async () => (await t.records(uid)).find((r) => r.id === stored!.id), 10_000, "the restart's record");
    expect(record).toMatchObject({ kind: "restart", requestedBy: "alice", state: CommandState.PENDING });
  });
});
