import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CommandKind, ConfigSource, ConnectionSchema, ConnectionType, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import {
  AgentCapabilities,
  AgentConfigMapSchema,
  AgentToServerSchema,
  ConnectionSettingsOffersSchema,
  CustomMessageSchema,
  PackageAvailableSchema,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { DependencyUnavailableError, instanceUidToHex, silentLogger, type PushBus, type PushNotice, uuidv7Bytes } from "@fleetplane/platform";
import { AdminCommands, type CommandResult } from "./admin-commands.js";
import { AgentCannotError, AgentConnectedError, AgentNotFoundError } from "./agent-errors.js";
import type { AgentRepository } from "./agent-repository.js";
import { AgentReports } from "./agent-reports.js";

import { auditCorrections } from "./audit-reconciliation.js";
import type { AuditedCommand, CommandAuditPort } from "./command-audit-port.js";
import type { RolloutPin } from "./config-assignment.js";
import { computeConfigHash } from "./config-hash.js";
import { temporaryAgentStore } from "./temporary-agent-store.js";

/**
 * Admin commands over the embedded LMDB repository, with a push bus and an
 * audit port that write what they are handed into one log. The audit port
 * also reads the repository when a record arrives: what it records must
 * already be stored.
 */
function setup() {
  const log: string[] = [];
  const recorded: Array<{ record: AuditedCommand; storedWithIt: boolean }> = [];
  const audit: CommandAuditPort = {
    async record(record) {
      log.push(`recorded ${record.kind}`);
      const stored = await repository.get(record.instanceUid);
      recorded.push({ record, storedWithIt: stored?.commands.some((c) => c.id === record.id) ?? false });
    },
    async transition(_uid, t) {
      log.push(`${t.to} ${t.commandId}`);
    },
    async recordChange() {},
    async recent() {
      return { records: [], complete: true };
    },
  };
  const notices: PushNotice[] = [];
  // A bus may be slow to take a notice (NATS reconnecting): `publishing`
  // lets a test hold the publish open while other work on the agent runs.
  const gate = { publishing: async () => {} };
  const push: PushBus = {
    async publish(_gatewayId, notice) {
      await gate.publishing();
      log.push("pushed");
      notices.push(notice);
      return true;
    },
    async subscribe() {
      return { unsubscribe: async () => {} };
    },
    async close() {},
  };
  // `beforeSaveMany` lets a test act as another writer just before a batch is written.
  // `afterSaveMany` lets it change what the store answered (a bulkWrite of several that failed).
  // `afterSave` lets a test fail a write that landed (a timed-out write the database applied).
  const hooks = { beforeSaveMany: async (_agents: readonly Agent[]) => {}, afterSaveMany: (wrote: Array<boolean | Error>, _agents: readonly Agent[]) => wrote, afterSave: () => {} };
  const { store, repository } = temporaryAgentStore({
    wrap: (repository): AgentRepository => ({
      ...repository,
      save: async (agent) => (await repository.save(agent), void log.push("saved"), hooks.afterSave()),
      saveMany: async (agents) => {
        await hooks.beforeSaveMany(agents);
        const wrote = await repository.saveMany(agents);
        log.push(`saved ${agents.length} in one batch`);
        return hooks.afterSaveMany(wrote, agents);
      },
    }),
    audit,
  });
  const reports = new AgentReports({ store, logger: silentLogger() });
  const reconciled: string[] = [];
  const commands = new AdminCommands({ store, audit, push, opampEndpoint: () => "wss://opamp.example/v1/opamp", reconcile: (uid) => reconciled.push(uid) });
  return { store, repository, reports, commands, log, recorded, notices, gate, hooks, reconciled };
}

const CAPABLE = BigInt(
  AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig |
    AgentCapabilities.AgentCapabilities_AcceptsRestartCommand |
    AgentCapabilities.AgentCapabilities_AcceptsPackages |
    AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings,
);

/** An agent that can take every command, connected over `type`. */
async function connectedAgent(t: ReturnType<typeof setup>, type: ConnectionType) {
  const uid = uuidv7Bytes();
  const connection = create(ConnectionSchema, { id: `gw/${instanceUidToHex(uid)}`, type, gatewayId: "gw" });
  await t.reports.reportMessage(
    connection,
    create(AgentToServerSchema, { instanceUid: uid, capabilities: CAPABLE, customCapabilities: { capabilities: ["io.example.ping"] } }),
  );
  return instanceUidToHex(uid);
}

const issued = { certificatePem: "-----BEGIN CERTIFICATE-----\n", caCertificatePem: "-----BEGIN CERTIFICATE-----\n", serialNumber: "01", notAfter: 0 };

/** The commands as an admin (or an approved CSR) gives them; SendCommand in both its kinds; connection settings with and without a certificate of the admin's. */
const COMMANDS: Array<[AuditedCommand["kind"], (c: AdminCommands, uid: string) => Promise<CommandResult>]> = [
  ["remote_config", (c, uid) => c.setRemoteConfig(uid, create(AgentConfigMapSchema, { configMap: { "": { body: new TextEncoder().encode("a: 1") } } }), "alice")],
  ["restart", (c, uid) => c.sendCommand(uid, CommandKind.RESTART, "alice")],
  ["report_full_state", (c, uid) => c.sendCommand(uid, CommandKind.REPORT_FULL_STATE, "alice")],
  ["custom_message", (c, uid) => c.sendCustomMessage(uid, create(CustomMessageSchema, { capability: "io.example.ping", type: "ping" }), "alice")],
  ["connection_settings", (c, uid) => c.setConnectionSettings(uid, create(ConnectionSettingsOffersSchema, { opamp: { destinationEndpoint: "wss://elsewhere/v1/opamp" } }), "alice")],
  ["packages", (c, uid) => c.setPackagesAvailable(uid, { otelcol: create(PackageAvailableSchema, { version: "1.0.0", file: { downloadUrl: "https://example/otelcol" } }) }, "alice")],
  // An admin's settings may carry a certificate of their own: still connection_settings (only an issued one is client_certificate).
  ["connection_settings", (c, uid) => c.setConnectionSettings(uid, create(ConnectionSettingsOffersSchema, { opamp: { destinationEndpoint: "wss://elsewhere/v1/opamp", certificate: { cert: new TextEncoder().encode("-----BEGIN CERTIFICATE-----\n") } } }), "alice")],
  ["client_certificate", (c, uid) => c.offerCertificate(uid, issued, "alice")],
  ["certificate_refusal", (c, uid) => c.refuseCertificateRequest(uid, "denied by alice", "alice")],
];

describe("admin commands", () => {
  it.each(COMMANDS)("%s: stored, recorded in the audit, then pushed to a WebSocket agent's gateway", async (kind, give) => {
    const t = setup();
    const uid = await connectedAgent(t, ConnectionType.WEBSOCKET);
    t.log.length = 0;
    const { command, pushed, agent } = await give(t.commands, uid);
    expect(t.log.filter((l) => !l.startsWith("superseded"))).toEqual(["saved", `recorded ${kind}`, "pushed"]);
    expect(pushed).toBe(true);
    // The notice names the revision the command was stored at (the pull needs no read when it reaches this replica).
    const stored = await t.store.getAgent(uid);
    expect(t.notices).toEqual([{ instanceUid: uid, connectionId: `gw/${uid}`, revision: String(stored.revision) }]);
    expect(stored.revision).toBeGreaterThan(0n);
    expect(agent.commands.map((c) => c.id)).toContain(command.id);
    expect((await t.store.getAgent(uid)).commands.map((c) => c.id)).toContain(command.id);
    expect(t.recorded).toHaveLength(1);
    expect(t.recorded[0]!.record).toMatchObject({ id: command.id, instanceUid: uid, kind, requestedBy: "alice" });
    expect(t.recorded[0]!.storedWithIt).toBe(true);
  });

  it.each(COMMANDS)(
    "%s: a record made again from the stored agent before the maker's landed is the maker's (command-service keeps whichever comes first)",
    async (kind, give) => {
      const t = setup();
      const uid = await connectedAgent(t, ConnectionType.WEBSOCKET);
      const { command } = await give(t.commands, uid);
      // As another replica reads it: from the repository (through the stored encoding), with the trail still empty.
      const stored = await t.repository.get(uid);
      const again = auditCorrections(stored!, { records: [], complete: true }).records.find((r) => r.id === command.id);
      expect(again).toEqual({ ...t.recorded[0]!.record, createdAt: command.createdAt });
      expect(again!.kind).toBe(kind);
    },
  );

  it("does not push to an HTTP agent (it polls), but still stores and audits", async () => {
    const t = setup();
    const uid = await connectedAgent(t, ConnectionType.HTTP);
    t.log.length = 0;
    const { pushed } = await t.commands.sendCommand(uid, CommandKind.REPORT_FULL_STATE, "alice");
    expect(pushed).toBe(false);
    expect(t.log).toEqual(["saved", "recorded report_full_state"]);
  });

  it("a pull waiting on the agent's lock cannot mark a command delivered before its audit record", async () => {
    const t = setup();
    const uid = await connectedAgent(t, ConnectionType.WEBSOCKET);
    t.log.length = 0;
    // The publish is held until the pull has run (or 2 s passed): with the
    // record written after the notice, the pull's "delivered" came first.
    let pulling: Promise<unknown> = Promise.resolve();
    t.gate.publishing = () => Promise.race([pulling, new Promise((r) => setTimeout(r, 2_000))]).then(() => undefined);
    const given = t.commands.sendCommand(uid, CommandKind.REPORT_FULL_STATE, "alice");
    const pulled = t.reports.pull(uid, `gw/${uid}`).then((r) => r.message);
    pulling = pulled;
    const { command } = await given;
    expect(await pulled).toBeDefined();
    const recordedAt = t.log.indexOf("recorded report_full_state");
    const deliveredAt = t.log.indexOf(`delivered ${command.id}`);
    expect(recordedAt).toBeGreaterThanOrEqual(0);
    expect(deliveredAt).toBeGreaterThan(recordedAt);
  });

  it("records the config's hash for a remote config, and neither stores nor audits a command the agent cannot take", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    await t.reports.reportMessage(create(ConnectionSchema, { id: "c", type: ConnectionType.WEBSOCKET, gatewayId: "gw" }), create(AgentToServerSchema, { instanceUid: uid }));
    const { command } = await t.commands.setRemoteConfig(hex, create(AgentConfigMapSchema, { configMap: { "": { body: new TextEncoder().encode("a: 1") } } }), "alice");
    expect(t.recorded[0]!.record.configHash).toBe(Buffer.from(command.configHash).toString("hex"));
    expect(t.recorded[0]!.record.configHash).toHaveLength(64);
    t.log.length = 0;
    await expect(t.commands.sendCommand(hex, CommandKind.RESTART, "alice")).rejects.toThrow("does not accept restart commands");
    expect(t.log).toEqual([]);
  });
});

describe("DeleteAgent", () => {
  it("refuses a connected agent, and with force removes it, supersedes its open commands, records the deletion and closes its WebSocket", async () => {
    const t = setup();
    const uid = await connectedAgent(t, ConnectionType.WEBSOCKET);
    const { command } = await COMMANDS[0]![1](t.commands, uid);
    await expect(t.commands.deleteAgent(uid, "alice", "default", false)).rejects.toBeInstanceOf(AgentConnectedError);
    await expect(t.commands.deleteAgent(uid, "alice", "another-namespace", true)).rejects.toBeInstanceOf(AgentNotFoundError);
    t.log.length = 0;
    t.notices.length = 0;

    const { connectionClosed } = await t.commands.deleteAgent(uid, "alice", "default", true);
    expect(connectionClosed).toBe(true);
    expect(t.notices).toEqual([{ instanceUid: uid, connectionId: `gw/${uid}`, close: true }]);
    expect(t.log).toEqual([`superseded ${command.id}`, "recorded agent_deleted", "pushed"]);
    await expect(t.store.getAgent(uid)).rejects.toBeInstanceOf(AgentNotFoundError);
    await expect(t.commands.deleteAgent(uid, "alice", "default", true)).rejects.toBeInstanceOf(AgentNotFoundError);
  });

  it("deletes a disconnected agent without force and closes nothing", async () => {
    const t = setup();
    const uid = await connectedAgent(t, ConnectionType.WEBSOCKET);
    await t.reports.markDisconnected(uid, `gw/${uid}`);
    t.notices.length = 0;
    expect((await t.commands.deleteAgent(uid, "alice", "default", false)).connectionClosed).toBe(false);
    expect(t.notices).toEqual([]);
    await expect(t.store.getAgent(uid)).rejects.toBeInstanceOf(AgentNotFoundError);
  });
});

describe("rollout pins in a batch", () => {
  const config = create(AgentConfigMapSchema, { configMap: { "": { body: new TextEncoder().encode("v: 2") } } });
  const pin: RolloutPin = { group: "web", configuration: "web", version: 2, rollout: "r1", config, hash: computeConfigHash(config) };
  /** Puts the agent in group "web" at version 1 (what a group change would have done). */
  const inGroup = (t: ReturnType<typeof setup>, uid: string, group = "web") =>
    t.store.mutate(uid, { create: false }, (a) => {
      a.spec!.assignment = { $typeName: "fleetplane.agent.v1.ConfigAssignment", source: ConfigSource.GROUP, group, configuration: group, version: 1, rollout: "", tiedWith: [] };
      return { persist: "now", result: undefined };
    });

  it("reads, writes and audits a batch at once, leaves an agent with its own configuration and one of another group alone, and pins again alone an agent another writer changed in the middle of the batch", async () => {
    const t = setup();
    const [served, moved, own, other] = await Promise.all([0, 1, 2, 3].map(() => connectedAgent(t, ConnectionType.WEBSOCKET)));
    await Promise.all([served, moved, own, other].map((uid) => inGroup(t, uid!, uid === other ? "api" : "web")));
    await t.commands.setRemoteConfig(own!, create(AgentConfigMapSchema, { configMap: { "": { body: new TextEncoder().encode("mine") } } }), "alice");
    const gone = "f".repeat(32);
    // Another writer (a report on another replica) stores `moved` just before the batch is written: its revision moves.
    let intruded = false;
    t.hooks.beforeSaveMany = async () => {
      if (intruded) return;
      intruded = true;
      const copy = (await t.repository.get(moved!))!;
      copy.metadata!.labels = { team: "b" };
      await t.repository.save(copy);
    };
    t.log.length = 0;
    t.recorded.length = 0;
    t.notices.length = 0;
    const outcomes = await t.commands.pinRollouts([served!, moved!, own!, other!, gone], "default", pin, "rollout default/r1");
    expect(outcomes).toEqual(new Map([[served!, "pinned"], [moved!, "pinned"], [own!, "own configuration"], [other!, "not in the group"], [gone, "gone"]]));
    // One batch written (the two pinned), the conflicted one written again alone.
    expect(t.log.filter((l) => l.startsWith("saved"))).toEqual(["saved 2 in one batch", "saved"]);
    for (const uid of [served!, moved!]) expect((await t.store.getAgent(uid)).spec!.assignment).toMatchObject({ version: 2, rollout: "r1" });
    // The other writer's change is kept: the pin was applied to the agent read afresh.
    expect((await t.store.getAgent(moved!)).metadata!.labels).toEqual({ team: "b" });
    expect((await t.store.getAgent(own!)).spec!.assignment).toMatchObject({ source: ConfigSource.AGENT });
    expect((await t.store.getAgent(other!)).spec!.assignment).toMatchObject({ group: "api", version: 1, rollout: "" });
    // Each pinned agent's command recorded once it was stored, and its gateway told.
    expect(t.recorded.map((r) => [r.record.instanceUid, r.record.kind, r.storedWithIt]).sort()).toEqual([[moved!, "remote_config", true], [served!, "remote_config", true]].sort());
    expect(t.notices.map((n) => n.instanceUid).sort()).toEqual([moved!, served!].sort());
    // Again: nothing left to do, nothing written.
    t.log.length = 0;
    expect([...(await t.commands.pinRollouts([served!, moved!], "default", pin, "rollout default/r1")).values()]).toEqual(["unchanged", "unchanged"]);
    expect(t.log.filter((l) => l.startsWith("saved"))).toEqual([]);
  });

  it("answers the store's failure for every agent of the batch and keeps nothing in memory that the store refused", async () => {
    const t = setup();
    const uid = await connectedAgent(t, ConnectionType.WEBSOCKET);
    await inGroup(t, uid);
    t.hooks.beforeSaveMany = async () => {
      throw new Error("store away");
    };
    const outcomes = await t.commands.pinRollouts([uid], "default", pin, "rollout default/r1");
    expect(outcomes.get(uid)).toBeInstanceOf(Error);
    expect(String(outcomes.get(uid))).toContain("store away");
    expect((await t.store.getAgent(uid)).spec!.assignment).toMatchObject({ version: 1, rollout: "" });
    expect(t.store.serves(uid)).toBe(false);
  });

  it("records and pushes the pins the store wrote when the write of others in the same batch failed", async () => {
    const t = setup();
    const [a, b] = await Promise.all([0, 1].map(() => connectedAgent(t, ConnectionType.WEBSOCKET)));
    await Promise.all([a!, b!].map((uid) => inGroup(t, uid)));
    // The store wrote both but one bulkWrite failed: b's outcome is unknown to the caller.
    t.hooks.afterSaveMany = (wrote, agents) => wrote.map((w, i) => (instanceUidToHex(agents[i]!.metadata!.instanceUid) === b! ? new DependencyUnavailableError("MongoDB") : w));
    t.recorded.length = 0;
    t.notices.length = 0;
    const outcomes = await t.commands.pinRollouts([a!, b!], "default", pin, "rollout default/r1");
    expect(outcomes.get(a!)).toBe("pinned");
    expect(outcomes.get(b!)).toBeInstanceOf(Error);
    // a is stored: its command is recorded and its gateway told, though b's write failed beside it.
    expect(t.recorded.map((r) => r.record.instanceUid)).toEqual([a!]);
    expect(t.notices.map((n) => n.instanceUid)).toEqual([a!]);
    // b is not kept in memory: what the store holds is read again.
    expect(t.store.serves(b!)).toBe(false);
    // b's pin was stored all the same, without its record: its reconciliation writes it.
    expect(t.reconciled).toEqual([b!]);
    await t.store.reconcileAudit(b!);
    expect(t.recorded.map((r) => [r.record.instanceUid, r.record.kind, r.storedWithIt])).toEqual([[a!, "remote_config", true], [b!, "remote_config", true]]);
  });

  it("asks for the agent's audit reconciliation when its change failed on an unavailable store, whose write may have landed, and for no other failure", async () => {
    const t = setup();
    const uid = await connectedAgent(t, ConnectionType.WEBSOCKET);
    t.recorded.length = 0;
    t.hooks.afterSave = () => {
      throw new DependencyUnavailableError("MongoDB");
    };
    await expect(t.commands.sendCommand(uid, CommandKind.RESTART, "alice")).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(t.reconciled).toEqual([uid]);
    // The restart landed, but its record was never queued: the reconciliation writes it.
    expect(t.recorded).toEqual([]);
    t.hooks.afterSave = () => {};
    expect(await t.store.reconcileAudit(uid)).toEqual({ recorded: 1, moved: 0 });
    expect(t.recorded.map((r) => [r.record.kind, r.record.requestedBy, r.storedWithIt])).toEqual([["restart", "alice", true]]);
    // A refusal stores nothing: nothing to reconcile.
    await expect(t.commands.sendCustomMessage(uid, create(CustomMessageSchema, { capability: "io.example.other" }), "alice")).rejects.toBeInstanceOf(AgentCannotError);
    expect(t.reconciled).toEqual([uid]);
  });
});
