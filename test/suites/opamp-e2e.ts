import { X509Certificate, createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBinary, create } from "@bufbuild/protobuf";
import { CommandKind, RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { CertificateRequestState } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import {
  AgentCapabilities,
  AgentToServerFlags,
  ConnectionSettingsStatuses,
  PackageStatusEnum,
  PackageStatusSchema,
  PackageType,
  AgentToServerSchema,
  CommandType,
  ConnectionSettingsRequestSchema,
  RemoteConfigStatuses,
  ServerCapabilities,
  ServerErrorResponseType,
  ServerToAgentFlags,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex } from "@fleetplane/platform/instance-uid";
import { uuidv7Bytes } from "@fleetplane/platform/uuidv7";
import { CAPS, WsAgent, description, httpPoll } from "../support/simulated-agent.js";
import { breakSignature, makeCsr } from "../support/csr.js";
import { eventually } from "../support/eventually.js";
import type { TestTopology } from "../support/topology.js";

const CSR_CAPS =
  CAPS | BigInt(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings | AgentCapabilities.AgentCapabilities_ReportsConnectionSettingsStatus);

/** AgentToServer.connection_settings_request carrying a PEM CSR. */
function csrRequest(pem: string) {
  return create(ConnectionSettingsRequestSchema, { opamp: { certificateRequest: { csr: new TextEncoder().encode(pem) } } });
}

/** What the suite's servers are started with declaring (--custom-capabilities). */
export const SERVER_CUSTOM_CAPABILITIES = ["io.fleetplane.test", "io.fleetplane.echo/v2"];

const uuidOf = (uid: Uint8Array) => instanceUidToHex(uid).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");

/**
 * Under auto approval, in any topology: a valid CSR is answered with its
 * certificate in the very reply; a mismatched one is refused.
 */
export function csrAutoApprovalSuite(start: () => Promise<TestTopology>) {
  let t: TestTopology;
  beforeAll(async () => {
    t = await start();
  }, 180_000);
  afterAll(async () => {
    await t?.close();
  }, 60_000);

  it("auto approval: the certificate comes in the reply to the CSR; a CSR for another UID or with a broken signature is refused", async () => {
    const agent = await WsAgent.connect(t.wsUrl);
    agent.send({ capabilities: CSR_CAPS, agentDescription: description("csr-auto") as never });
    await eventually(() => agent.received[0]);
    const { pem } = await makeCsr({ subject: `CN=${instanceUidToHex(agent.uid)}`, algorithm: "rsa" });
    agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(pem) });
    const reply = await eventually(() => agent.received[1]);
    const cert = new X509Certificate(Buffer.from(reply.connectionSettings!.opamp!.certificate!.cert));
    expect(cert.verify(new X509Certificate(t.caCertPem!).publicKey)).toBe(true);
    expect(cert.subject).toBe(`CN=${uuidOf(agent.uid)}`);
    const { requests } = await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid) });
    expect(requests[0]).toMatchObject({ state: CertificateRequestState.APPROVED, decidedBy: "auto-approval" });
    await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands.find((c) => c.kind === "client_certificate" && c.state === CommandState.DELIVERED));

    const other = await makeCsr({ subject: `CN=${uuidOf(uuidv7Bytes())}` });
    agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(other.pem) });
    const refusal = await eventually(() => agent.received[2]);
    expect(refusal.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    const broken = await makeCsr({ subject: `CN=${uuidOf(agent.uid)}` });
    agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(breakSignature(broken.pem)) });
    const second = await eventually(() => agent.received[3]);
    expect(second.errorResponse?.errorMessage).toMatch(/signature does not verify/);
    const { requests: refused } = await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid), state: CertificateRequestState.REFUSED });
    expect(refused).toHaveLength(2);
    await agent.close();
  });
}

const hex = instanceUidToHex;

/**
 * The OpAMP behaviour every topology must show, written once: the standalone
 * process and the distributed one (gateways, services, NATS, MongoDB-wire)
 * both run it unchanged. `start` must give a server whose gateway limits
 * messages to 1 MiB, marks agents disconnected after 2 missed heartbeat
 * intervals (0.75 s when the server gave the agent none: silent agents are
 * gone after 1.5 s), offers a 2 s heartbeat interval, pings WebSockets every
 * 0.4 s, and signs agents' CSRs with a CA under manual approval.
 */
export function opampE2eSuite(start: () => Promise<TestTopology>) {
  let t: TestTopology;
  beforeAll(async () => {
    t = await start();
  }, 180_000);
  afterAll(async () => {
    await t?.close();
  }, 60_000);
  const flag = (f: bigint | undefined, bit: number) => ((f ?? 0n) & BigInt(bit)) !== 0n;

  describe("a WebSocket agent", () => {
    it("is saved on connect, created on its first message, and told the server's capabilities", async () => {
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ agentDescription: description("ws-one") as never });
      const reply = await eventually(() => agent.received[0]);
      expect(hex(reply.instanceUid)).toBe(hex(agent.uid));
      expect(reply.capabilities).not.toBe(0n);
      expect(flag(reply.flags, ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).toBe(false);

      const { agent: stored } = await t.agents.getAgent({ instanceUid: hex(agent.uid) });
      expect(stored?.status?.connected).toBe(true);
      expect(stored?.metadata?.capabilities).toBe(CAPS);
      expect(stored?.metadata?.description?.identifyingAttributes[0]?.key).toBe("service.name");
      await agent.close();
    });

    it("is asked for its full state when unknown without a description, or after a sequence gap", async () => {
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send();
      const first = await eventually(() => agent.received[0]);
      expect(flag(first.flags, ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).toBe(true);
      agent.send({ agentDescription: description() as never });
      const second = await eventually(() => agent.received[1]);
      expect(flag(second.flags, ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).toBe(false);
      agent.seq += 5n; // skip some messages
      agent.send();
      const third = await eventually(() => agent.received[2]);
      expect(flag(third.flags, ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).toBe(true);
      await agent.close();
    });

    it("receives a remote config pushed at once, and its Applied report is recorded with the audit", async () => {
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ agentDescription: description() as never });
      await eventually(() => agent.received[0]);

      const res = await t.agents.setRemoteConfig({
        instanceUid: hex(agent.uid),
        files: { "": { content: { case: "text", value: "receivers: {}\n" }, contentType: "text/yaml" } },
        requestedBy: "e2e",
      });
      expect(res.pushed).toBe(true);
      const push = await eventually(() => agent.received.find((m) => m.remoteConfig));
      const hash = push.remoteConfig!.configHash;
      expect(hex(hash)).toBe(hex(res.agent!.spec!.remoteConfig!.data!.hash));
      expect(new TextDecoder().decode(push.remoteConfig!.config!.configMap[""]!.body)).toBe("receivers: {}\n");

      agent.reportConfig(hash, RemoteConfigStatuses.RemoteConfigStatuses_APPLIED);
      await eventually(async () => (await t.agents.getAgent({ instanceUid: hex(agent.uid) })).agent?.spec?.remoteConfig?.data?.status === RemoteConfigState.APPLIED);
      const audit = await eventually(async () => {
        const { commands } = await t.commands.listCommands({ instanceUid: hex(agent.uid) });
        return commands[0]?.state === CommandState.APPLIED ? commands[0] : undefined;
      });
      expect(audit.kind).toBe("remote_config");
      expect(audit.requestedBy).toBe("e2e");
      expect(audit.configHash).toBe(Buffer.from(hash).toString("hex"));

      // Never resent once the agent reports the hash.
      const before = agent.received.length;
      agent.send();
      await eventually(() => agent.received.length > before);
      expect(agent.received.at(-1)!.remoteConfig).toBeUndefined();
      await agent.close();
    });

    it("reports a failed config with the agent's error", async () => {
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ agentDescription: description() as never });
      await eventually(() => agent.received[0]);
      await t.agents.setRemoteConfig({ instanceUid: hex(agent.uid), files: { "": { content: { case: "text", value: "bad" } } } });
      const push = await eventually(() => agent.received.find((m) => m.remoteConfig));
      agent.reportConfig(push.remoteConfig!.configHash, RemoteConfigStatuses.RemoteConfigStatuses_FAILED, "bad yaml at line 1");
      const stored = await eventually(async () => {
        const { agent: a } = await t.agents.getAgent({ instanceUid: hex(agent.uid) });
        return a?.spec?.remoteConfig?.data?.status === RemoteConfigState.FAILED ? a : undefined;
      });
      expect(stored.spec!.remoteConfig!.lastErrorMessage).toBe("bad yaml at line 1");
      const failed = await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands.find((c) => c.state === CommandState.FAILED));
      expect(failed.detail).toBe("bad yaml at line 1");
      await agent.close();
    });

    it("gets a Restart command on its own, delivered once", async () => {
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ agentDescription: description() as never });
      await eventually(() => agent.received[0]);
      const { pushed } = await t.agents.sendCommand({ instanceUid: hex(agent.uid), kind: CommandKind.RESTART, requestedBy: "e2e" });
      expect(pushed).toBe(true);
      const cmd = await eventually(() => agent.received.find((m) => m.command));
      expect(cmd.command!.type).toBe(CommandType.CommandType_Restart);
      expect(cmd.remoteConfig).toBeUndefined();
      agent.send();
      await eventually(() => agent.received.length >= 3);
      expect(agent.received.filter((m) => m.command)).toHaveLength(1);
      await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands[0]?.state === CommandState.DELIVERED);
      await agent.close();
    });

    it("has its connection saved while connected; is marked disconnected after it closes, and its connection is deleted", async () => {
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ agentDescription: description() as never });
      await eventually(() => agent.received[0]);
      const mine = async () => (await t.connections.listConnections({ pageSize: 1000 })).connections.find((c) => hex(c.instanceUid) === hex(agent.uid));
      const saved = await eventually(mine, 5_000, "connection saved");
      expect(t.gatewayIds).toContain(saved.gatewayId);
      await agent.close();
      await eventually(async () => (await t.agents.getAgent({ instanceUid: hex(agent.uid) })).agent?.status?.connected === false);
      await eventually(async () => (await mine()) === undefined, 5_000, "connection deleted");
    });

    it("is disconnected when it reports heartbeats but misses them, and left alone when it does not report heartbeats", async () => {
      const heartbeats = CAPS | BigInt(AgentCapabilities.AgentCapabilities_ReportsHeartbeat);
      const hung = await WsAgent.connect(t.wsUrl);
      hung.send({ capabilities: heartbeats, agentDescription: description("hung") as never });
      const quiet = await WsAgent.connect(t.wsUrl);
      quiet.send({ agentDescription: description("quiet") as never });
      await eventually(() => hung.received[0] && quiet.received[0]);
      // Neither sends anything more; both still answer pings.
      await eventually(() => hung.closeCode, 10_000, "close after missed heartbeats");
      await eventually(async () => (await t.agents.getAgent({ instanceUid: hex(hung.uid) })).agent?.status?.connected === false, 10_000, "recorded disconnected");
      expect(quiet.closeCode).toBeUndefined();
      expect((await t.agents.getAgent({ instanceUid: hex(quiet.uid) })).agent?.status?.connected).toBe(true);
      await quiet.close();
    });

    it("is terminated when its socket stops answering pings (half-open), and marked disconnected", async () => {
      const halfOpen = await WsAgent.connect(t.wsUrl, uuidv7Bytes(), { answerPings: false });
      halfOpen.send({ agentDescription: description("half-open") as never });
      const healthy = await WsAgent.connect(t.wsUrl);
      healthy.send({ agentDescription: description("answers-pings") as never });
      await eventually(() => halfOpen.received[0] && healthy.received[0]);
      await eventually(() => halfOpen.closeCode, 10_000, "half-open socket terminated");
      expect(halfOpen.pings).toBeGreaterThan(0);
      expect(halfOpen.closeCode).toBe(1006); // terminated, no close frame
      await eventually(async () => (await t.agents.getAgent({ instanceUid: hex(halfOpen.uid) })).agent?.status?.connected === false, 10_000, "recorded disconnected");
      // The agent that answers outlives several pings and stays connected.
      const seen = healthy.pings;
      await eventually(() => healthy.pings >= seen + 2, 10_000, "two more pings to the healthy agent");
      expect(healthy.closeCode).toBeUndefined();
      expect((await t.agents.getAgent({ instanceUid: hex(healthy.uid) })).agent?.status?.connected).toBe(true);
      await healthy.close();
    });

    it("is given a new instance UID when it asks for one", async () => {
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ flags: BigInt(AgentToServerFlags.AgentToServerFlags_RequestInstanceUid) });
      const reply = await eventually(() => agent.received[0]);
      const fresh = reply.agentIdentification!.newInstanceUid;
      expect(fresh).toHaveLength(16);
      expect(fresh[6]! >> 4).toBe(7); // UUIDv7
      await agent.close();
    });

    it("a second live agent with the same UID is told to take a new one", async () => {
      const uid = uuidv7Bytes();
      const first = await WsAgent.connect(t.wsUrl, uid);
      first.send({ agentDescription: description() as never });
      await eventually(() => first.received[0]);
      const clone = await WsAgent.connect(t.wsUrl, uid);
      clone.send({ agentDescription: description() as never });
      const reply = await eventually(() => clone.received[0]);
      expect(reply.agentIdentification?.newInstanceUid).toHaveLength(16);
      expect(hex(reply.agentIdentification!.newInstanceUid)).not.toBe(hex(uid));
      await Promise.all([first.close(), clone.close()]);
    });
  });

  describe("heartbeat interval offers", () => {
    const HEARTBEAT = BigInt(AgentCapabilities.AgentCapabilities_ReportsHeartbeat | AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings);
    const REPORTS_SETTINGS = BigInt(AgentCapabilities.AgentCapabilities_ReportsConnectionSettingsStatus);
    const applied = (hash: Uint8Array) => ({
      $typeName: "opamp.proto.v1.ConnectionSettingsStatus" as const,
      lastConnectionSettingsHash: hash,
      status: ConnectionSettingsStatuses.ConnectionSettingsStatuses_APPLIED,
      errorMessage: "",
    });
    const intervalInApi = async (uid: Uint8Array) => (await t.agents.getAgent({ instanceUid: hex(uid) })).agent?.status?.heartbeatIntervalSeconds;

    it("reach WebSocket agents that report heartbeats and accept OpAMP settings, which are then judged by that interval", async () => {
      const caps = CAPS | HEARTBEAT | REPORTS_SETTINGS;
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ capabilities: caps, agentDescription: description("heartbeat-offer") as never });
      const offer = (await eventually(() => agent.received[0])).connectionSettings!;
      expect(offer.opamp?.heartbeatIntervalSeconds).toBe(2n);
      expect(offer.opamp?.destinationEndpoint).toBe(t.wsUrl); // where it already is: only the interval changes
      expect(offer.hash).toHaveLength(32);
      // Agents that lack either capability are offered nothing.
      const plain = await WsAgent.connect(t.wsUrl);
      plain.send({ capabilities: CAPS | BigInt(AgentCapabilities.AgentCapabilities_ReportsHeartbeat), agentDescription: description() as never });
      expect((await eventually(() => plain.received[0])).connectionSettings).toBeUndefined();
      await plain.close();

      agent.send({ capabilities: caps, connectionSettingsStatus: applied(offer.hash) });
      await eventually(async () => (await intervalInApi(agent.uid)) === 2n, 10_000, "GetAgent shows the applied interval");
      const n = agent.received.length;
      agent.send({ capabilities: caps });
      await eventually(() => agent.received.length > n);
      expect(agent.received.at(-1)!.connectionSettings).toBeUndefined(); // not resent once applied

      // Heartbeats 2.5 s apart keep it connected: beyond the 1.5 s an agent of
      // unknown interval may stay silent, within two missed 2 s intervals.
      for (let beat = 0; beat < 2; beat++) {
        await new Promise((r) => setTimeout(r, 2_500)); // the agent's own heartbeat cadence
        expect(agent.closeCode).toBeUndefined();
        agent.send({ capabilities: caps });
      }
      const lastHeartbeat = Date.now();
      await eventually(() => agent.closeCode, 10_000, "close after two missed 2 s heartbeats");
      expect(Date.now() - lastHeartbeat).toBeGreaterThanOrEqual(3_500);
      await eventually(async () => (await t.agents.getAgent({ instanceUid: hex(agent.uid) })).agent?.status?.connected === false, 10_000, "recorded disconnected");
    }, 30_000);

    it("merge into an admin's OpAMP offer, whose own interval wins", async () => {
      const caps = CAPS | HEARTBEAT | REPORTS_SETTINGS;
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ capabilities: caps, agentDescription: description("heartbeat-merge") as never });
      const serverOffer = (await eventually(() => agent.received[0])).connectionSettings!;
      agent.send({ capabilities: caps, connectionSettingsStatus: applied(serverOffer.hash) });

      const admin = await t.agents.setConnectionSettings({ instanceUid: hex(agent.uid), offers: { opamp: { destinationEndpoint: "wss://opamp.example/v1/opamp" } }, requestedBy: "e2e" });
      const merged = await eventually(() => agent.received.find((m) => m.connectionSettings?.opamp?.destinationEndpoint === "wss://opamp.example/v1/opamp")?.connectionSettings);
      expect(merged.opamp?.heartbeatIntervalSeconds).toBe(2n); // an offer without one would switch heartbeats off
      expect(hex(merged.hash)).not.toBe(hex(admin.agent!.spec!.connectionSettings!.hash)); // the hash covers the merged settings
      expect(admin.agent!.spec!.connectionSettings!.opamp?.heartbeatIntervalSeconds).toBe(0n); // the admin's offer is kept as sent
      agent.send({ capabilities: caps, connectionSettingsStatus: applied(merged.hash) });
      await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands.find((c) => c.id === admin.commandId && c.state === CommandState.APPLIED), 10_000, "admin's offer APPLIED in the audit");

      await t.agents.setConnectionSettings({ instanceUid: hex(agent.uid), offers: { opamp: { destinationEndpoint: "wss://opamp.example/v1/opamp", heartbeatIntervalSeconds: 7n } } });
      const own = await eventually(() => agent.received.find((m) => m.connectionSettings?.opamp?.heartbeatIntervalSeconds === 7n)?.connectionSettings);
      agent.send({ capabilities: caps, connectionSettingsStatus: applied(own.hash) });
      await eventually(async () => (await intervalInApi(agent.uid)) === 7n, 10_000, "GetAgent shows the admin's interval");
      await agent.close();
    });

    it("reach HTTP agents, which are disconnected after missing two polls at that interval", async () => {
      const caps = CAPS | HEARTBEAT; // cannot report settings status: the offer counts once sent
      const uid = uuidv7Bytes();
      const first = await httpPoll(t.httpUrl, { instanceUid: uid, capabilities: caps, agentDescription: description("http-heartbeat") as never });
      expect(first.message?.connectionSettings?.opamp?.heartbeatIntervalSeconds).toBe(2n);
      expect(first.message?.connectionSettings?.opamp?.destinationEndpoint).toBe(t.httpUrl);
      expect(await intervalInApi(uid)).toBe(2n);
      const second = await httpPoll(t.httpUrl, { instanceUid: uid, capabilities: caps, sequenceNum: 1n });
      expect(second.message?.connectionSettings).toBeUndefined(); // sent once
      const lastPoll = Date.now();
      await eventually(async () => (await t.agents.getAgent({ instanceUid: hex(uid) })).agent?.status?.connected === false, 10_000, "disconnected after missed polls");
      expect(Date.now() - lastPoll).toBeGreaterThanOrEqual(3_500);
    });
  });

  describe("offers", () => {
    it("connection settings and packages reach a capable agent at once, and its reports settle the audit", async () => {
      const caps =
        CAPS |
        BigInt(
          AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings |
            AgentCapabilities.AgentCapabilities_ReportsConnectionSettingsStatus |
            AgentCapabilities.AgentCapabilities_AcceptsPackages |
            AgentCapabilities.AgentCapabilities_ReportsPackageStatuses,
        );
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ capabilities: caps, agentDescription: description("offers") as never });
      await eventually(() => agent.received[0]);

      const settings = await t.agents.setConnectionSettings({
        instanceUid: hex(agent.uid),
        offers: { opamp: { destinationEndpoint: "wss://opamp.example/v1/opamp", heartbeatIntervalSeconds: 30n } },
        requestedBy: "e2e",
      });
      expect(settings.pushed).toBe(true);
      const offer = await eventually(() => agent.received.find((m) => m.connectionSettings)?.connectionSettings);
      expect(offer.opamp?.destinationEndpoint).toBe("wss://opamp.example/v1/opamp");
      agent.send({
        capabilities: caps,
        connectionSettingsStatus: { $typeName: "opamp.proto.v1.ConnectionSettingsStatus", lastConnectionSettingsHash: offer.hash, status: ConnectionSettingsStatuses.ConnectionSettingsStatuses_APPLIED, errorMessage: "" },
      });
      await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands.find((c) => c.kind === "connection_settings" && c.state === CommandState.APPLIED), 10_000, "settings applied in the audit");

      const packages = await t.agents.setPackagesAvailable({
        instanceUid: hex(agent.uid),
        packages: { collector: { type: PackageType.PackageType_TopLevel, version: "0.120.0", file: { downloadUrl: "https://pkgs.example/collector-0.120.0.tgz", contentHash: new Uint8Array(32) } } },
        requestedBy: "e2e",
      });
      expect(packages.pushed).toBe(true);
      const available = await eventually(() => agent.received.find((m) => m.packagesAvailable)?.packagesAvailable);
      expect(available.packages.collector?.version).toBe("0.120.0");
      agent.send({
        capabilities: caps,
        packageStatuses: {
          $typeName: "opamp.proto.v1.PackageStatuses",
          serverProvidedAllPackagesHash: available.allPackagesHash,
          errorMessage: "",
          packages: { collector: create(PackageStatusSchema, { name: "collector", agentHasVersion: "0.120.0", serverOfferedVersion: "0.120.0", status: PackageStatusEnum.PackageStatusEnum_Installed }) },
        },
      });
      await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands.find((c) => c.kind === "packages" && c.state === CommandState.APPLIED), 10_000, "packages applied in the audit");
      const { agent: stored } = await t.agents.getAgent({ instanceUid: hex(agent.uid) });
      expect(stored?.status?.packageStatuses?.packages.collector?.agentHasVersion).toBe("0.120.0");
      // A plain agent cannot take packages: the admin is told so.
      const plain = await WsAgent.connect(t.wsUrl);
      plain.send({ agentDescription: description() as never });
      await eventually(() => plain.received[0]);
      await expect(t.agents.setPackagesAvailable({ instanceUid: hex(plain.uid), packages: {} })).rejects.toMatchObject({ code: 9 }); // FailedPrecondition
      await Promise.all([agent.close(), plain.close()]);
    });
  });

  describe("the package registry", () => {
    it("offers registered packages by name and version; Downloading (with progress), Installing, Installed and InstallFailed show in GetAgent and settle the audit", async () => {
      const name = `collector-${hex(uuidv7Bytes()).slice(-8)}`;
      const sha256 = new Uint8Array(createHash("sha256").update("collector 0.121.0 bits").digest());
      const signature = new TextEncoder().encode("-----BEGIN PGP SIGNATURE-----\n...");
      const definition = { name, version: "0.121.0", type: PackageType.PackageType_TopLevel, downloadUrl: `https://pkgs.example/${name}-0.121.0.tgz`, sha256, signature };
      const registered = await t.packages.registerPackage({ ...definition, requestedBy: "e2e" });
      expect(registered.created).toBe(true);
      expect(registered.package?.hash).toHaveLength(32);
      expect(registered.package?.registeredBy).toBe("e2e");
      // The same definition again is a no-op; a different one under the same version is refused.
      expect((await t.packages.registerPackage(definition)).created).toBe(false);
      await expect(t.packages.registerPackage({ ...definition, downloadUrl: "https://elsewhere.example/x.tgz" })).rejects.toMatchObject({ code: 6 }); // AlreadyExists
      await expect(t.packages.registerPackage({ ...definition, version: "bad", sha256: new Uint8Array(5) })).rejects.toMatchObject({ code: 3 }); // InvalidArgument
      expect((await t.packages.getPackage({ name, version: "0.121.0" })).package?.downloadUrl).toBe(definition.downloadUrl);

      const caps = CAPS | BigInt(AgentCapabilities.AgentCapabilities_AcceptsPackages | AgentCapabilities.AgentCapabilities_ReportsPackageStatuses);
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ capabilities: caps, agentDescription: description("registry") as never });
      await eventually(() => agent.received[0]);
      const uid = hex(agent.uid);
      await expect(t.packages.offerPackages({ instanceUid: uid, packages: [{ name, version: "9.9.9" }] })).rejects.toMatchObject({ code: 5 }); // NotFound

      const offered = await t.packages.offerPackages({ instanceUid: uid, packages: [{ name, version: "0.121.0" }], requestedBy: "e2e" });
      expect(offered.pushed).toBe(true);
      const available = await eventually(() => agent.received.find((m) => m.packagesAvailable)?.packagesAvailable);
      const pkg = available.packages[name]!;
      expect(pkg.file?.downloadUrl).toBe(definition.downloadUrl);
      expect(hex(pkg.file!.contentHash)).toBe(hex(sha256));
      expect(Buffer.from(pkg.file!.signature).equals(Buffer.from(signature))).toBe(true);
      expect(hex(pkg.hash)).toBe(hex(registered.package!.hash));
      expect(hex(available.allPackagesHash)).toBe(hex(offered.agent!.spec!.packagesAvailable!.allPackagesHash));

      const report = (allPackagesHash: Uint8Array, offer: { version: string; hash: Uint8Array }, status: PackageStatusEnum, extra: { errorMessage?: string; downloadPercent?: number } = {}) =>
        agent.send({
          capabilities: caps,
          packageStatuses: {
            $typeName: "opamp.proto.v1.PackageStatuses",
            serverProvidedAllPackagesHash: allPackagesHash,
            errorMessage: "",
            packages: {
              [name]: create(PackageStatusSchema, {
                name,
                serverOfferedVersion: offer.version,
                serverOfferedHash: offer.hash,
                status,
                errorMessage: extra.errorMessage ?? "",
                ...(status === PackageStatusEnum.PackageStatusEnum_Installed ? { agentHasVersion: offer.version, agentHasHash: offer.hash } : {}),
                ...(extra.downloadPercent !== undefined ? { downloadDetails: { downloadPercent: extra.downloadPercent, downloadBytesPerSecond: 250_000 } } : {}),
              }),
            },
          },
        });
      const statusInApi = (status: PackageStatusEnum) =>
        eventually(async () => {
          const s = (await t.agents.getAgent({ instanceUid: uid })).agent?.status?.packageStatuses?.packages[name];
          return s?.status === status ? s : undefined;
        }, 10_000, `GetAgent shows ${PackageStatusEnum[status]}`);
      const auditOf = async (commandId: string) => (await t.commands.listCommands({ instanceUid: uid })).commands.find((c) => c.id === commandId);

      report(available.allPackagesHash, { version: "0.121.0", hash: pkg.hash }, PackageStatusEnum.PackageStatusEnum_Downloading, { downloadPercent: 40 });
      expect((await statusInApi(PackageStatusEnum.PackageStatusEnum_Downloading)).downloadDetails?.downloadPercent).toBe(40);
      report(available.allPackagesHash, { version: "0.121.0", hash: pkg.hash }, PackageStatusEnum.PackageStatusEnum_Downloading, { downloadPercent: 100 });
      expect((await eventually(async () => {
        const s = (await t.agents.getAgent({ instanceUid: uid })).agent?.status?.packageStatuses?.packages[name];
        return s?.downloadDetails?.downloadPercent === 100 ? s : undefined;
      }, 10_000, "download progress 100%")).status).toBe(PackageStatusEnum.PackageStatusEnum_Downloading);
      report(available.allPackagesHash, { version: "0.121.0", hash: pkg.hash }, PackageStatusEnum.PackageStatusEnum_Installing);
      await statusInApi(PackageStatusEnum.PackageStatusEnum_Installing);
      expect((await auditOf(offered.commandId))?.state).toBe(CommandState.DELIVERED); // not done while installing
      report(available.allPackagesHash, { version: "0.121.0", hash: pkg.hash }, PackageStatusEnum.PackageStatusEnum_Installed);
      expect((await statusInApi(PackageStatusEnum.PackageStatusEnum_Installed)).agentHasVersion).toBe("0.121.0");
      const applied = await eventually(async () => ((await auditOf(offered.commandId))?.state === CommandState.APPLIED ? auditOf(offered.commandId) : undefined), 10_000, "offer APPLIED in the audit");
      expect(applied?.kind).toBe("packages");
      expect(applied?.requestedBy).toBe("e2e");

      // A newer version that fails to install.
      await t.packages.registerPackage({ ...definition, version: "0.122.0", downloadUrl: `https://pkgs.example/${name}-0.122.0.tgz` });
      const upgrade = await t.packages.offerPackages({ instanceUid: uid, packages: [{ name, version: "0.122.0" }], requestedBy: "e2e" });
      const next = await eventually(() => agent.received.find((m) => m.packagesAvailable?.packages[name]?.version === "0.122.0")?.packagesAvailable);
      report(next.allPackagesHash, { version: "0.122.0", hash: next.packages[name]!.hash }, PackageStatusEnum.PackageStatusEnum_InstallFailed, { errorMessage: "checksum mismatch" });
      expect((await statusInApi(PackageStatusEnum.PackageStatusEnum_InstallFailed)).errorMessage).toBe("checksum mismatch");
      const failed = await eventually(async () => ((await auditOf(upgrade.commandId))?.state === CommandState.FAILED ? auditOf(upgrade.commandId) : undefined), 10_000, "offer FAILED in the audit");
      expect(failed?.detail).toBe(`${name}: checksum mismatch`);

      // The registry lists versions in order; a deleted version is gone (offers already made keep their copy).
      expect((await t.packages.listPackages({ name })).packages.map((p) => p.version)).toEqual(["0.121.0", "0.122.0"]);
      await t.packages.deletePackage({ name, version: "0.122.0" });
      await expect(t.packages.getPackage({ name, version: "0.122.0" })).rejects.toMatchObject({ code: 5 });
      await expect(t.packages.deletePackage({ name, version: "0.122.0" })).rejects.toMatchObject({ code: 5 });
      expect((await t.packages.listPackages({ name })).packages.map((p) => p.version)).toEqual(["0.121.0"]);
      await agent.close();
    });
  });

  describe("certificate signing requests (manual approval)", () => {
    it("a CSR naming its agent waits for approval, then the certificate is offered, chains to the CA, and the agent's report settles the audit", async () => {
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ capabilities: CSR_CAPS, agentDescription: description("csr") as never });
      const first = await eventually(() => agent.received[0]);
      expect(flag(first.capabilities, ServerCapabilities.ServerCapabilities_AcceptsConnectionSettingsRequest)).toBe(true);

      const { pem } = await makeCsr({ subject: `CN=${uuidOf(agent.uid)}` });
      agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(pem) });
      await eventually(() => agent.received[1]);
      expect(agent.received[1]!.connectionSettings).toBeUndefined();
      expect(agent.received[1]!.errorResponse).toBeUndefined();
      const { requests } = await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid) });
      expect(requests.map((r) => r.state)).toEqual([CertificateRequestState.PENDING]);
      expect(requests[0]!.subject).toBe(`CN=${uuidOf(agent.uid)}`);
      const { requests: pending } = await t.certificates.listCertificateRequests({ state: CertificateRequestState.PENDING });
      expect(pending.map((r) => r.id)).toContain(requests[0]!.id);
      const { agent: waiting } = await t.agents.getAgent({ instanceUid: hex(agent.uid) });
      expect(waiting?.status?.connectionSettingsRequest?.opamp?.certificateRequest?.csr).toBeDefined();

      const approved = await t.certificates.approveCertificateRequest({ id: requests[0]!.id, approvedBy: "e2e-admin" });
      expect(approved.pushed).toBe(true);
      expect(approved.request?.state).toBe(CertificateRequestState.APPROVED);
      const offer = await eventually(() => agent.received.find((m) => m.connectionSettings?.opamp?.certificate)?.connectionSettings);
      const tls = offer.opamp!.certificate!;
      expect(tls.privateKey).toHaveLength(0); // the agent holds its key
      expect(offer.opamp!.destinationEndpoint).not.toBe("");
      const cert = new X509Certificate(Buffer.from(tls.cert));
      expect(cert.verify(new X509Certificate(t.caCertPem!).publicKey)).toBe(true);
      expect(Buffer.from(tls.caCert).toString().trim()).toBe(t.caCertPem!.trim());
      expect(cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]); // clientAuth
      expect(cert.serialNumber.toLowerCase()).toBe(approved.request!.serialNumber.toLowerCase());

      agent.send({
        capabilities: CSR_CAPS,
        connectionSettingsStatus: { $typeName: "opamp.proto.v1.ConnectionSettingsStatus", lastConnectionSettingsHash: offer.hash, status: ConnectionSettingsStatuses.ConnectionSettingsStatuses_APPLIED, errorMessage: "" },
      });
      const audited = await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands.find((c) => c.kind === "client_certificate" && c.state === CommandState.APPLIED), 10_000, "certificate applied in the audit");
      expect(audited.requestedBy).toBe("e2e-admin");
      const { requests: after } = await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid) });
      expect(after[0]!.commandId).toBe(audited.id);
      const { agent: stored } = await t.agents.getAgent({ instanceUid: hex(agent.uid) });
      expect(stored?.status?.connectionSettingsRequest).toBeUndefined();
      // Decided once: approving again is refused with FailedPrecondition.
      await expect(t.certificates.approveCertificateRequest({ id: requests[0]!.id })).rejects.toMatchObject({ code: 9 });
      await expect(t.certificates.approveCertificateRequest({ id: "0".repeat(32) })).rejects.toMatchObject({ code: 5 }); // NotFound
      await agent.close();
    });

    it("a CSR naming another agent is refused with BAD_REQUEST and kept as REFUSED; a denied one is answered likewise", async () => {
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ capabilities: CSR_CAPS, agentDescription: description("csr-refused") as never });
      await eventually(() => agent.received[0]);
      const impostor = await makeCsr({ subject: `CN=${uuidOf(uuidv7Bytes())}` });
      agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(impostor.pem) });
      const refusal = await eventually(() => agent.received[1]);
      expect(refusal.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
      expect(refusal.errorResponse?.errorMessage).toMatch(new RegExp(`sent by agent ${hex(agent.uid)}`));
      expect(refusal.connectionSettings).toBeUndefined();
      const refused = await eventually(async () => (await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid) })).requests.find((r) => r.commandId));
      expect(refused.state).toBe(CertificateRequestState.REFUSED);
      expect(refused.reason).toBe(refusal.errorResponse!.errorMessage);

      const { pem } = await makeCsr({ subject: "CN=collector", uris: [`urn:uuid:${uuidOf(agent.uid)}`] });
      agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(pem) });
      await eventually(() => agent.received[2]);
      const waiting = await eventually(async () => (await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid), state: CertificateRequestState.PENDING })).requests[0]);
      await expect(t.certificates.denyCertificateRequest({ id: waiting.id, reason: "" })).rejects.toMatchObject({ code: 3 }); // a reason is required
      const denied = await t.certificates.denyCertificateRequest({ id: waiting.id, reason: "unknown host", deniedBy: "e2e-admin" });
      expect(denied.request?.state).toBe(CertificateRequestState.DENIED);
      expect(denied.pushed).toBe(true);
      const told = await eventually(() => agent.received.slice(3).find((m) => m.errorResponse));
      expect(told.errorResponse!.errorMessage).toMatch(/denied by e2e-admin: unknown host/);
      await agent.close();
    });
  });

  describe("custom messages", () => {
    it("go both ways for a declared custom capability, delivered once, and are refused otherwise", async () => {
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ agentDescription: description("custom") as never, customCapabilities: { $typeName: "opamp.proto.v1.CustomCapabilities", capabilities: ["io.fleetplane.test"] } });
      await eventually(() => agent.received[0]);

      // From the agent: recorded on the agent.
      agent.send({ customMessage: { $typeName: "opamp.proto.v1.CustomMessage", capability: "io.fleetplane.test", type: "ping", data: new TextEncoder().encode("hello") } });
      const seen = await eventually(async () => (await t.agents.getAgent({ instanceUid: hex(agent.uid) })).agent?.status?.lastCustomMessage, 10_000, "agent's custom message recorded");
      expect(seen.type).toBe("ping");
      expect(new TextDecoder().decode(seen.data)).toBe("hello");

      // To the agent: pushed once, audited.
      const sent = await t.agents.sendCustomMessage({ instanceUid: hex(agent.uid), capability: "io.fleetplane.test", type: "pong", data: new TextEncoder().encode("hi"), requestedBy: "e2e" });
      expect(sent.pushed).toBe(true);
      const got = await eventually(() => agent.received.find((m) => m.customMessage)?.customMessage);
      expect(got.type).toBe("pong");
      agent.send();
      await eventually(() => agent.received.length >= 4);
      expect(agent.received.filter((m) => m.customMessage)).toHaveLength(1);
      await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands.find((c) => c.kind === "custom_message" && c.state === CommandState.DELIVERED));

      await expect(t.agents.sendCustomMessage({ instanceUid: hex(agent.uid), capability: "io.other", type: "x" })).rejects.toMatchObject({ code: 9 });
      await agent.close();
    });

    it("the server declares its custom capabilities in the first reply of a connection and when the agent declares its own, not in every message", async () => {
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ agentDescription: description("custom-caps") as never });
      expect((await eventually(() => agent.received[0])).customCapabilities?.capabilities).toEqual(SERVER_CUSTOM_CAPABILITIES);
      agent.send();
      expect((await eventually(() => agent.received[1])).customCapabilities).toBeUndefined();
      agent.send({ customCapabilities: { $typeName: "opamp.proto.v1.CustomCapabilities", capabilities: ["io.fleetplane.test"] } });
      expect((await eventually(() => agent.received[2])).customCapabilities?.capabilities).toEqual(SERVER_CUSTOM_CAPABILITIES);
      await agent.close();

      // A reconnect starts over; so does an HTTP agent's first poll.
      const back = await WsAgent.connect(t.wsUrl, agent.uid);
      back.send({ agentDescription: description("custom-caps") as never });
      expect((await eventually(() => back.received[0])).customCapabilities?.capabilities).toEqual(SERVER_CUSTOM_CAPABILITIES);
      await back.close();
      const uid = uuidv7Bytes();
      const first = await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: 0n, agentDescription: description("custom-caps-http") as never });
      expect(first.message!.customCapabilities?.capabilities).toEqual(SERVER_CUSTOM_CAPABILITIES);
      const second = await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: 1n });
      expect(second.message!.customCapabilities).toBeUndefined();
    });
  });

  describe("an HTTP agent", () => {
    it("gets a pending config on its next poll, gzip both ways, and reports Applied", async () => {
      const uid = uuidv7Bytes();
      const first = await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: 0n, agentDescription: description("http") as never }, { gzipRequest: true, keepAlive: true });
      expect(first.status).toBe(200);
      expect(first.headers.get("content-type")).toBe("application/x-protobuf");
      // Connections outlive the default 30 s polling interval.
      expect(first.headers.get("keep-alive")).toBe("timeout=120");
      expect(hex(first.message!.instanceUid)).toBe(hex(uid));

      const big = "x: " + "y".repeat(4000) + "\n";
      const { pushed } = await t.agents.setRemoteConfig({ instanceUid: hex(uid), files: { "collector.yaml": { content: { case: "text", value: big } } } });
      expect(pushed).toBe(false);
      const poll = await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: 1n }, { acceptGzip: true });
      expect(poll.headers.get("content-encoding")).toBe("gzip");
      const rc = poll.message!.remoteConfig!;
      expect(new TextDecoder().decode(rc.config!.configMap["collector.yaml"]!.body)).toBe(big);

      await httpPoll(t.httpUrl, {
        instanceUid: uid,
        sequenceNum: 2n,
        remoteConfigStatus: { $typeName: "opamp.proto.v1.RemoteConfigStatus", lastRemoteConfigHash: rc.configHash, status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED, errorMessage: "" },
      });
      const { agent } = await t.agents.getAgent({ instanceUid: hex(uid) });
      expect(agent!.spec!.remoteConfig!.data!.status).toBe(RemoteConfigState.APPLIED);
      const next = await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: 3n }, { acceptGzip: true });
      expect(next.message!.remoteConfig).toBeUndefined();
      expect(next.headers.get("content-encoding")).toBeNull(); // small replies are not worth compressing
    });

    it("is marked disconnected when it says goodbye, and when it stops polling", async () => {
      const bye = uuidv7Bytes();
      await httpPoll(t.httpUrl, { instanceUid: bye, agentDescription: description() as never });
      await httpPoll(t.httpUrl, { instanceUid: bye, sequenceNum: 1n, agentDisconnect: { $typeName: "opamp.proto.v1.AgentDisconnect" } });
      await eventually(async () => (await t.agents.getAgent({ instanceUid: hex(bye) })).agent?.status?.connected === false);

      const silent = uuidv7Bytes();
      await httpPoll(t.httpUrl, { instanceUid: silent, agentDescription: description() as never });
      expect((await t.agents.getAgent({ instanceUid: hex(silent) })).agent?.status?.connected).toBe(true);
      await eventually(async () => (await t.agents.getAgent({ instanceUid: hex(silent) })).agent?.status?.connected === false, 10_000, "timeout disconnect");
    });
  });

  describe("bad input", () => {
    it("gets the spec's answer while other agents keep being served", async () => {
      const healthy = await WsAgent.connect(t.wsUrl);
      healthy.send({ agentDescription: description() as never });
      await eventually(() => healthy.received[0]);
      const stillServed = async () => {
        const n = healthy.received.length;
        healthy.send();
        await eventually(() => healthy.received.length > n, 5_000, "healthy agent reply");
      };

      // Random bytes, a wrong header byte and a truncated protobuf: BadRequest on the same socket.
      const bad = await WsAgent.connect(t.wsUrl);
      const valid = toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: bad.uid, agentDescription: description() as never }));
      for (const frame of [Buffer.from([0x00, 0xff, 0xff, 0xff, 0xff]), Buffer.concat([Buffer.from([0x05]), valid]), Buffer.concat([Buffer.from([0]), valid.subarray(0, valid.length - 3)])]) {
        const n = bad.received.length;
        bad.sendRaw(frame);
        const reply = await eventually(() => bad.received[n]);
        expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
        expect(reply.errorResponse?.errorMessage).not.toBe("");
        await stillServed();
      }

      // A header-less frame (older clients) is accepted.
      const n = bad.received.length;
      bad.sendRaw(valid);
      expect((await eventually(() => bad.received[n])).errorResponse).toBeUndefined();

      // A 15-byte instance UID.
      const short = await WsAgent.connect(t.wsUrl, new Uint8Array(15));
      short.send();
      const shortReply = await eventually(() => short.received[0]);
      expect(shortReply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
      const httpShort = await httpPoll(t.httpUrl, { instanceUid: new Uint8Array(15) });
      expect(httpShort.status).toBe(200); // an error_response is read only from a 200 (opamp-gateway http-reply-status.ts)
      expect(httpShort.message?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);

      // Oversized: 1009 on WebSocket, 413 on HTTP (limit is 1 MiB in this test).
      const huge = await WsAgent.connect(t.wsUrl);
      huge.sendRaw(Buffer.alloc(1024 * 1024 + 10));
      await eventually(() => huge.closeCode, 5_000, "close after oversized frame");
      expect(huge.closeCode).toBe(1009);
      const tooBig = await httpPoll(t.httpUrl, {}, { rawBody: Buffer.alloc(1024 * 1024 + 10) });
      expect(tooBig.status).toBe(413);
      // A gzip bomb that inflates past the limit is refused the same way.
      const bomb = await httpPoll(t.httpUrl, {}, { rawBody: Buffer.alloc(8 * 1024 * 1024), gzipRequest: true });
      expect(bomb.status).toBe(413);

      // gzip that does not inflate, and truncated protobuf over HTTP.
      const badGzip = await httpPoll(t.httpUrl, {}, { rawBody: Buffer.from("not gzip at all"), headers: { "content-encoding": "gzip" } });
      expect(badGzip.status).toBe(400);
      expect(badGzip.message?.errorResponse?.errorMessage).toMatch(/gzip/);
      const truncated = await httpPoll(t.httpUrl, {}, { rawBody: valid.subarray(0, valid.length - 3) });
      expect(truncated.status).toBe(400);
      expect(truncated.message?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);

      await stillServed();
      await Promise.all([healthy.close(), bad.close(), short.close()]);
    });

    it("admin calls with invalid or unknown agents get the right Connect codes", async () => {
      await expect(t.agents.getAgent({ instanceUid: "abc" })).rejects.toMatchObject({ code: 3 }); // InvalidArgument
      await expect(t.agents.getAgent({ instanceUid: hex(uuidv7Bytes()) })).rejects.toMatchObject({ code: 5 }); // NotFound
      await expect(t.agents.sendCommand({ instanceUid: hex(uuidv7Bytes()), kind: CommandKind.RESTART })).rejects.toMatchObject({ code: 5 });
    });
  });
}
