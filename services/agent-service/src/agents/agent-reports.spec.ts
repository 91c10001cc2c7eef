import { create } from "@bufbuild/protobuf";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { CommandKind, ConnectionSchema, ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentCapabilities, AgentConfigMapSchema, AgentToServerSchema, ConnectionSettingsRequestSchema, ServerToAgentFlags } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { serverCapabilities } from "@fleetplane/opamp";
import { createInProcessPushBus } from "@fleetplane/platform-node";
import { openEmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { instanceUidToHex, silentLogger, uuidv7Bytes } from "@fleetplane/platform";
import { AdminCommands } from "./admin-commands.js";
import { AgentReports } from "./agent-reports.js";
import type { CommandTransition } from "./agent-model.js";
import { auditCorrections } from "./audit-reconciliation.js";
import type { AuditedCommand } from "./command-audit-port.js";
import { temporaryAgentStore } from "./temporary-agent-store.js";
import { createLmdbCertificateRequestRepository } from "../adapters/lmdb-certificate-request-repository.js";
import { CertificateDesk, CertificateRequestNotFoundError } from "../certificates/certificate-desk.js";
import type { CertificateSigner } from "../certificates/certificate-signer.js";
import { uuidText } from "../certificates/csr-identity.js";

/** The report path over the embedded repository; admin commands to give it something to deliver. */
function setup() {
  const { store, repository } = temporaryAgentStore();
  const reports = new AgentReports({ store, logger: silentLogger() });
  const commands = new AdminCommands({ store, audit: { record: async () => {}, transition: async () => {}, recordChange: async () => {}, recent: async () => ({ records: [], complete: true }) }, push: createInProcessPushBus() });
  return { store, repository, reports, commands };
}

const ws = (id: string, gatewayEpoch = "epoch-1") => create(ConnectionSchema, { id, type: ConnectionType.WEBSOCKET, gatewayId: "gw", gatewayEpoch });
const capabilities = BigInt(AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig | AgentCapabilities.AgentCapabilities_ReportsRemoteConfig);
const message = (uid: Uint8Array, sequenceNum: bigint) => create(AgentToServerSchema, { instanceUid: uid, sequenceNum, capabilities });
const config = create(AgentConfigMapSchema, { configMap: { "": { body: new TextEncoder().encode("a: 1\n") } } });

describe("the report path", () => {
  it("creates an unknown agent, marks it connected, and replies with the server's capabilities and a full-state request", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const { reply } = await t.reports.reportMessage(ws("c1"), message(uid, 0n));
    expect(instanceUidToHex(reply.instanceUid)).toBe(instanceUidToHex(uid));
    expect(reply.capabilities).toBe(serverCapabilities({ signsCertificates: false }));
    expect(reply.flags & BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).not.toBe(0n);
    const agent = await t.store.getAgent(instanceUidToHex(uid));
    expect(agent.status?.connected).toBe(true);
    expect(agent.status?.connectionId).toBe("c1");
  });

  it("refuses an instance UID that is not 16 bytes", async () => {
    const t = setup();
    await expect(t.reports.reportMessage(ws("c1"), message(new Uint8Array(15), 0n))).rejects.toThrow("instance_uid must be 16 bytes, got 15");
  });

  it("pulls only pending commands: nothing without one, a new command once, not again while unconfirmed", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    await t.reports.reportMessage(ws("c1"), message(uid, 0n));
    expect((await t.reports.pull(hex, "c1")).message).toBeUndefined();

    await t.commands.setRemoteConfig(hex, config, "admin");
    const pushed = (await t.reports.pull(hex, "c1")).message;
    expect(pushed?.remoteConfig?.config).toBeDefined();
    // Delivered but not yet confirmed: it rides on the next reply, not on another pull.
    expect((await t.reports.pull(hex, "c1")).message).toBeUndefined();

    await t.commands.sendCommand(hex, CommandKind.REPORT_FULL_STATE, "admin");
    expect((await t.reports.pull(hex, "another-connection")).message).toBeUndefined();
    const asked = (await t.reports.pull(hex, "c1")).message;
    expect(asked!.flags & BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).not.toBe(0n);
  });

  it("says with each pull whether a pull right after would find more: a restart goes alone and the config follows; nothing after the last", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    const restarting = create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 0n, capabilities: capabilities | BigInt(AgentCapabilities.AgentCapabilities_AcceptsRestartCommand) });
    await t.reports.reportMessage(ws("c1"), restarting);
    expect(await t.reports.pull(hex, "c1")).toEqual({ more: false });

    await t.commands.setRemoteConfig(hex, config, "admin");
    const alone = await t.reports.pull(hex, "c1");
    expect(alone.message?.remoteConfig?.config).toBeDefined();
    expect(alone.more).toBe(false);

    await t.commands.sendCommand(hex, CommandKind.RESTART, "admin");
    await t.commands.sendCommand(hex, CommandKind.REPORT_FULL_STATE, "admin");
    const restart = await t.reports.pull(hex, "c1");
    expect(restart.message?.command).toBeDefined();
    expect(restart.more).toBe(true);
    const rest = await t.reports.pull(hex, "c1");
    expect(rest.message!.flags & BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).not.toBe(0n);
    expect(rest.more).toBe(false);
    expect(await t.reports.pull(hex, "c1")).toEqual({ more: false });
  });

  it("leaves a pushed config's delivery to the agent's next write (or the next batch), and writes a pushed restart before it goes out", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    const restarting = create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 0n, capabilities: capabilities | BigInt(AgentCapabilities.AgentCapabilities_AcceptsRestartCommand) });
    await t.reports.reportMessage(ws("c1"), restarting);
    const deliveredInStore = async () => (await t.repository.get(hex))!.commands.filter((c) => c.deliveredAt).map((c) => c.kind);

    await t.commands.setRemoteConfig(hex, config, "admin");
    expect((await t.reports.pull(hex, "c1")).message?.remoteConfig).toBeDefined();
    expect(await deliveredInStore()).toEqual([]);
    // The served copy has it: the next pull does not send the config again.
    expect((await t.reports.pull(hex, "c1")).message).toBeUndefined();
    await t.store.flush();
    expect(await deliveredInStore()).toEqual([CommandKind.REMOTE_CONFIG_UPDATED]);

    await t.commands.sendCommand(hex, CommandKind.RESTART, "admin");
    expect((await t.reports.pull(hex, "c1")).message?.command).toBeDefined();
    expect(await deliveredInStore()).toEqual([CommandKind.REMOTE_CONFIG_UPDATED, CommandKind.RESTART]);
  });

  it("marks a delivered config's move as one the agent's report follows, and a delivered restart's not", async () => {
    const transitions: CommandTransition[] = [];
    const { store } = temporaryAgentStore({ audit: { record: async () => {}, transition: async (_uid, t) => void transitions.push(t), recordChange: async () => {}, recent: async () => ({ records: [], complete: true }) } });
    const reports = new AgentReports({ store, logger: silentLogger() });
    const commands = new AdminCommands({ store, audit: { record: async () => {}, transition: async () => {}, recordChange: async () => {}, recent: async () => ({ records: [], complete: true }) }, push: createInProcessPushBus() });
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    await reports.reportMessage(ws("c1"), create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 0n, capabilities: capabilities | BigInt(AgentCapabilities.AgentCapabilities_AcceptsRestartCommand) }));
    await commands.setRemoteConfig(hex, config, "admin");
    await reports.pull(hex, "c1");
    await commands.sendCommand(hex, CommandKind.RESTART, "admin");
    await reports.pull(hex, "c1");
    const delivered = transitions.filter((t) => t.to === "delivered");
    expect(delivered.map((t) => t.awaitsReport ?? false)).toEqual([true, false]);
  });

  it("ignores the close of a connection the agent already left", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    await t.reports.reportMessage(ws("old"), message(uid, 0n));
    await t.reports.reportMessage(ws("new"), message(uid, 1n)); // a reconnect carries on counting
    expect(await t.reports.markDisconnected(hex, "old")).toBe(false);
    expect((await t.store.getAgent(hex)).status?.connected).toBe(true);
    expect(await t.reports.markDisconnected(hex, "new")).toBe(true);
    expect((await t.store.getAgent(hex)).status?.connected).toBe(false);
    expect(await t.reports.markDisconnected(instanceUidToHex(uuidv7Bytes()), "never")).toBe(false);
  });

  it("gives a second live instance with the same UID a new UID, and leaves the first alone", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    await t.reports.reportMessage(ws("first"), message(uid, 0n));
    await t.reports.reportMessage(ws("first"), message(uid, 1n));
    const { reply } = await t.reports.reportMessage(ws("second"), message(uid, 0n)); // its own count
    const fresh = reply.agentIdentification?.newInstanceUid;
    expect(fresh).toHaveLength(16);
    expect(fresh).not.toEqual(uid);
    expect(reply.capabilities).toBe(serverCapabilities({ signsCertificates: false }));
    expect(reply.flags & BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).not.toBe(0n);
    expect((await t.store.getAgent(instanceUidToHex(uid))).status?.connectionId).toBe("first");
  });

  it("reconciles the audit records of agents coming back at most `auditReconcileConcurrency` at a time, and all of them in the end", async () => {
    // The audit trail answers only when told to, and counts the questions in flight.
    let inFlight = 0;
    let maxInFlight = 0;
    const asked = new Set<string>();
    const answers: Array<() => void> = [];
    const audit = {
      record: async () => {},
      transition: async () => {},
      recordChange: async () => {},
      recent: async (uid: string) => {
        asked.add(uid);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise<void>((r) => answers.push(r));
        inFlight--;
        return { records: [], complete: true };
      },
    };
    const { store } = temporaryAgentStore({ audit });
    const reports = new AgentReports({ store, logger: silentLogger(), auditReconcileConcurrency: 4 });
    const uids = Array.from({ length: 50 }, () => uuidv7Bytes());
    for (const uid of uids) await reports.reportMessage(ws("before"), message(uid, 0n));
    // A restart: all 50 come back on new connections at once.
    await Promise.all(uids.map((uid, i) => reports.reportMessage(ws(`after-${i}`, "epoch-2"), message(uid, 1n))));
    const deadline = Date.now() + 5_000;
    while (asked.size < uids.length) {
      expect(Date.now()).toBeLessThan(deadline);
      expect(inFlight).toBeLessThanOrEqual(4);
      for (const answer of answers.splice(0)) answer();
      await new Promise((r) => setTimeout(r, 1));
    }
    for (const answer of answers.splice(0)) answer();
    expect(maxInFlight).toBe(4);
    expect([...asked].sort()).toEqual(uids.map(instanceUidToHex).sort());
  });

  it("takes an agent back on a restarted gateway (a new epoch) although the store still has it on the dead process's connection", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    await t.reports.reportMessage(ws("before-crash"), message(uid, 0n));
    await t.reports.reportMessage(ws("before-crash"), message(uid, 1n));
    // The store's sequence number lags (liveness is batched): the agent's next number looks like a second count.
    const { reply } = await t.reports.reportMessage(ws("after-restart", "epoch-2"), message(uid, 7n));
    expect(reply.agentIdentification).toBeUndefined();
    const agent = await t.store.getAgent(instanceUidToHex(uid));
    expect(agent.status?.connectionId).toBe("after-restart");
    expect(agent.status?.gatewayEpoch).toBe("epoch-2");
  });

  it("files a CSR under its sender's namespace: a stored agent's, a new agent's default", async () => {
    const { store } = temporaryAgentStore();
    const embedded = openEmbeddedStore(mkdtempSync(join(tmpdir(), "fleetplane-csr-")));
    onTestFinished(() => embedded.close());
    const requests = createLmdbCertificateRequestRepository(embedded);
    const certificates = new CertificateDesk({ requests, approval: "manual", opampEndpoint: () => "", logger: silentLogger() });
    const reports = new AgentReports({ store, logger: silentLogger(), certificates });
    const commands = new AdminCommands({ store, audit: { record: async () => {}, transition: async () => {}, recordChange: async () => {}, recent: async () => ({ records: [], complete: true }) }, push: createInProcessPushBus() });
    const withCsr = (uid: Uint8Array, seq: bigint) => {
      const m = message(uid, seq);
      m.connectionSettingsRequest = create(ConnectionSettingsRequestSchema, { opamp: { certificateRequest: { csr: new TextEncoder().encode("-----BEGIN CERTIFICATE REQUEST-----\n") } } });
      return m;
    };
    const known = uuidv7Bytes();
    await commands.setRemoteConfig(instanceUidToHex(known), config, "admin", "team-a");
    await reports.reportMessage(ws("c1"), withCsr(known, 0n));
    const fresh = uuidv7Bytes();
    await reports.reportMessage(ws("c2"), withCsr(fresh, 0n));
    // No CA here: both are refused, and kept where their agents live.
    expect((await requests.list({ namespace: "team-a", limit: 10 })).map((r) => r.instanceUid)).toEqual([instanceUidToHex(known)]);
    expect((await requests.list({ namespace: "default", limit: 10 })).map((r) => r.instanceUid)).toEqual([instanceUidToHex(fresh)]);
    const [filed] = await requests.list({ namespace: "team-a", limit: 1 });
    expect(await certificates.get(filed!.id, "default")).toBeUndefined();
    await expect(certificates.deny(filed!.id, "no", "admin", "default")).rejects.toBeInstanceOf(CertificateRequestNotFoundError);
  });
});

describe("a CSR answered on the report path", () => {
  /** A signer that takes any CSR as the sender's own: what is tested here is the answer's audit kind, not the X.509 work (certificate-signing.spec). */
  const signerFor = (uid: string): CertificateSigner => ({
    inspect: async () => ({ subject: `CN=${uuidText(uid)}`, commonNames: [uuidText(uid)], uris: [], signatureValid: true }),
    issue: async () => ({ certificatePem: "-----BEGIN CERTIFICATE-----\n", caCertificatePem: "-----BEGIN CERTIFICATE-----\n", serialNumber: "01", notAfter: 0 }),
  });

  it.each([
    ["signed", "client_certificate"],
    ["refused (no CA)", "certificate_refusal"],
  ] as const)("%s: a record made again from the stored agent before the answer's landed is the answer's, %s", async (outcome, kind) => {
    const recorded: AuditedCommand[] = [];
    const audit = { record: async (r: AuditedCommand) => void recorded.push(r), transition: async () => {}, recordChange: async () => {}, recent: async () => ({ records: [], complete: true }) };
    const { store, repository } = temporaryAgentStore({ audit });
    const embedded = openEmbeddedStore(mkdtempSync(join(tmpdir(), "fleetplane-csr-")));
    onTestFinished(() => embedded.close());
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    const signer = outcome === "signed" ? signerFor(hex) : undefined;
    const certificates = new CertificateDesk({ requests: createLmdbCertificateRequestRepository(embedded), signer, approval: "auto", opampEndpoint: () => "wss://opamp.example/v1/opamp", logger: silentLogger() });
    const reports = new AgentReports({ store, logger: silentLogger(), certificates });
    const m = create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 0n, capabilities: capabilities | BigInt(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings) });
    m.connectionSettingsRequest = create(ConnectionSettingsRequestSchema, { opamp: { certificateRequest: { csr: new TextEncoder().encode("-----BEGIN CERTIFICATE REQUEST-----\n") } } });
    await reports.reportMessage(ws("c1"), m);
    await expect.poll(() => recorded.map((r) => r.kind)).toEqual([kind]);
    // As another replica reads it: from the repository (through the stored encoding), with the trail still empty.
    const [again] = auditCorrections((await repository.get(hex))!, { records: [], complete: true }).records;
    expect(again).toEqual({ ...recorded[0]!, createdAt: expect.anything() });
    expect(again!.kind).toBe(kind);
  });
});

describe("heartbeats the gateway answers itself", () => {
  const fullState = BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState);

  it("lets the gateway acknowledge the next heartbeats only after a message that changed nothing and was answered with nothing to say", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    // The first message changes everything (a new agent): no.
    expect((await t.reports.reportMessage(ws("c1"), message(uid, 0n))).acknowledgesHeartbeats).toBe(false);
    // A heartbeat of a quiet agent: yes.
    expect((await t.reports.reportMessage(ws("c1"), message(uid, 1n))).acknowledgesHeartbeats).toBe(true);
    // A config pending for the agent rides on its replies: no, for as long as it does.
    await t.commands.setRemoteConfig(instanceUidToHex(uid), config, "admin");
    const pending = await t.reports.reportMessage(ws("c1"), message(uid, 2n));
    expect(pending.reply.remoteConfig).toBeDefined();
    expect(pending.acknowledgesHeartbeats).toBe(false);
    // A sequence gap (a full-state request): no.
    const t2 = setup();
    await t2.reports.reportMessage(ws("c1"), message(uid, 0n));
    const gap = await t2.reports.reportMessage(ws("c1"), message(uid, 5n));
    expect(gap.reply.flags & fullState).not.toBe(0n);
    expect(gap.acknowledgesHeartbeats).toBe(false);
  });

  it("takes an agent back on another gateway, not as a duplicate, when the heartbeats its old gateway answered were never reported", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const otherGateway = create(ConnectionSchema, { id: "c2", type: ConnectionType.WEBSOCKET, gatewayId: "gw-2", gatewayEpoch: "e" });
    await t.reports.reportMessage(ws("c1"), message(uid, 0n));
    expect((await t.reports.reportMessage(ws("c1"), message(uid, 1n))).acknowledgesHeartbeats).toBe(true);
    // Heartbeats 2..9 answered by gw, which died before reporting them; the agent carries on at 10 elsewhere.
    const back = await t.reports.reportMessage(otherGateway, message(uid, 10n));
    expect(back.reply.agentIdentification?.newInstanceUid).toBeUndefined();
    expect((await t.store.getAgent(instanceUidToHex(uid))).status?.connectionId).toBe("c2");
    // A second instance counting from its own start is still one.
    const clone = await t.reports.reportMessage(ws("c3"), message(uid, 0n));
    expect(clone.reply.agentIdentification?.newInstanceUid).toHaveLength(16);
  });

  it("takes an agent at the spec's 30 s back on another gateway when its old gateway died before the flush that would have reported its last heartbeat", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const otherGateway = create(ConnectionSchema, { id: "c2", type: ConnectionType.WEBSOCKET, gatewayId: "gw-2", gatewayEpoch: "e" });
    await t.reports.reportMessage(ws("c1"), message(uid, 0n));
    expect((await t.reports.reportMessage(ws("c1"), message(uid, 1n))).acknowledgesHeartbeats).toBe(true);
    // Heartbeats 2 and 3 were answered by gw and reported by its flushes (one each, 30 s apart).
    expect((await t.reports.reportMessage(ws("c1"), message(uid, 2n))).acknowledgesHeartbeats).toBe(true);
    expect((await t.reports.reportMessage(ws("c1"), message(uid, 3n))).acknowledgesHeartbeats).toBe(true);
    // 4 was answered, and gw died within the flush interval: the agent carries on at 5 elsewhere, one ahead of the count.
    const back = await t.reports.reportMessage(otherGateway, message(uid, 5n));
    expect(back.reply.agentIdentification?.newInstanceUid, "not a second instance").toBeUndefined();
    expect(back.reply.flags & fullState, "the unreported heartbeat is a gap: full state asked").not.toBe(0n);
    const agent = await t.store.getAgent(instanceUidToHex(uid));
    expect(agent.status?.connectionId).toBe("c2");
    expect(agent.status?.sequenceNum).toBe(5n);
    // A second instance whose count is not ahead of the one held is still one.
    const clone = await t.reports.reportMessage(ws("c3"), message(uid, 5n));
    expect(clone.reply.agentIdentification?.newInstanceUid).toHaveLength(16);
  });

  it("counts the heartbeats answered before a message as received: their sequence numbers are no gap", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    await t.reports.reportMessage(ws("c1"), message(uid, 0n));
    await t.reports.reportMessage(ws("c1"), message(uid, 1n));
    // Heartbeats 2..5 were answered by the gateway; 6 comes with them.
    const after = await t.reports.reportMessage(ws("c1"), message(uid, 6n), 4n);
    expect(after.reply.flags & fullState).toBe(0n);
    expect(after.acknowledgesHeartbeats).toBe(true);
    expect((await t.store.getAgent(instanceUidToHex(uid))).status?.sequenceNum).toBe(6n);
  });

  it("still asks for the full state when the answered heartbeats do not line up, or were answered on another connection", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    await t.reports.reportMessage(ws("c1"), message(uid, 0n));
    await t.reports.reportMessage(ws("c1"), message(uid, 1n));
    // Three answered, but the message is 4 ahead of 1 + 3: one was lost between.
    const lost = await t.reports.reportMessage(ws("c1"), message(uid, 6n), 3n);
    expect(lost.reply.flags & fullState).not.toBe(0n);
    await t.reports.reportMessage(ws("c1"), message(uid, 7n));
    // Counted while the agent was marked disconnected (its gateway's lease ran out, say): they prove nothing.
    await t.reports.markDisconnected(instanceUidToHex(uid), "c1");
    const away = await t.reports.reportMessage(ws("c1"), message(uid, 10n), 2n);
    expect(away.reply.flags & fullState).not.toBe(0n);
    expect(away.acknowledgesHeartbeats).toBe(false);
  });
});

describe("the audit reconciliation's failures", () => {
  it("are logged once per window, not once per agent (a store away fails every agent of a reconnecting fleet alike)", async () => {
    const { store } = temporaryAgentStore();
    const warnings: unknown[] = [];
    const logger = { ...silentLogger(), warn: (fields: unknown) => void warnings.push(fields) };
    const reports = new AgentReports({ store, logger, auditReconcileDelayMs: 0 });
    let tried = 0;
    store.reconcileAudit = async () => {
      tried++;
      throw new Error("the store is away");
    };
    for (let i = 0; i < 20; i++) reports.reconcileLater(instanceUidToHex(uuidv7Bytes()));
    await expect.poll(() => tried).toBe(20);
    expect(warnings).toHaveLength(1);
  });
});
