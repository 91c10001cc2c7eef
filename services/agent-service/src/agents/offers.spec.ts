import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CommandKind, ConnectionSchema, ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import {
  AgentCapabilities,
  AgentToServerSchema,
  ConnectionSettingsOffersSchema,
  ConnectionSettingsStatuses,
  PackageAvailableSchema,
  PackageStatusEnum,
  PackageType,
  ServerCapabilities,
  ServerErrorResponseType,
  TLSCertificateSchema,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { markDelivered, newAgent, pendingCommands, queueCertificateRefusal, report } from "./agent-model.js";
import { serverCapabilities } from "@fleetplane/opamp";
import { computeConnectionSettingsHash } from "./offer-hashes.js";
import { applyCertificateOffer, applyConnectionSettings, applyPackagesAvailable, endpointForTransport, offerTransitions } from "./offers.js";
import { buildServerToAgent } from "./server-to-agent-builder.js";

const uid = new Uint8Array(16).fill(9);
const conn = create(ConnectionSchema, { id: "gw/ws/1", type: ConnectionType.WEBSOCKET, gatewayId: "gw" });
const cap = (...c: AgentCapabilities[]) => BigInt(c.reduce((a, b) => a | b, 0));
const opts = (commandId: string) => ({ commandId, requestedBy: "admin", now: 1 });

function agentWith(capabilities: bigint) {
  const agent = newAgent(uid, 0);
  report(agent, create(AgentToServerSchema, { instanceUid: uid, capabilities }), conn, { now: 0, known: false });
  return agent;
}

const offers = () =>
  create(ConnectionSettingsOffersSchema, {
    opamp: { destinationEndpoint: "wss://opamp.example/v1/opamp", headers: { headers: [{ key: "Authorization", value: "Bearer x" }] } },
    ownMetrics: { destinationEndpoint: "https://otlp.example/v1/metrics" },
    ownTraces: { destinationEndpoint: "https://otlp.example/v1/traces" },
    otherConnections: { b: { destinationEndpoint: "https://b" }, a: { destinationEndpoint: "https://a" } },
  });

const pkg = (version: string) =>
  create(PackageAvailableSchema, { type: PackageType.PackageType_TopLevel, version, file: { downloadUrl: `https://pkgs.example/agent-${version}.tgz`, contentHash: new Uint8Array([1, 2, 3]) } });

describe("connection settings offers", () => {
  it("announce the capability, and send each part only to an agent that accepts it", () => {
    const agent = agentWith(cap(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings, AgentCapabilities.AgentCapabilities_ReportsOwnMetrics));
    const { command } = applyConnectionSettings(agent, offers(), opts("c1"));
    const built = buildServerToAgent(agent, { requestFullState: false });
    expect(built.message.capabilities & BigInt(ServerCapabilities.ServerCapabilities_OffersConnectionSettings)).not.toBe(0n);
    const sent = built.message.connectionSettings!;
    expect(sent.opamp?.destinationEndpoint).toBe("wss://opamp.example/v1/opamp");
    expect(sent.ownMetrics?.destinationEndpoint).toBe("https://otlp.example/v1/metrics");
    expect(sent.ownTraces).toBeUndefined(); // no ReportsOwnTraces
    expect(sent.otherConnections).toEqual({}); // no AcceptsOtherConnectionSettings
    expect(sent.hash).toEqual(command.configHash);
    expect(sent.hash).toHaveLength(32);
    expect(built.deliveredCommandIds).toEqual(["c1"]);
  });

  it("are resent until an agent that reports their status reports the hash, and the report settles the audit", () => {
    const agent = agentWith(cap(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings, AgentCapabilities.AgentCapabilities_ReportsConnectionSettingsStatus));
    const { command } = applyConnectionSettings(agent, offers(), opts("c1"));
    markDelivered(agent, buildServerToAgent(agent, { requestFullState: false }).deliveredCommandIds, 2);
    expect(buildServerToAgent(agent, { requestFullState: false }).message.connectionSettings).toBeDefined();

    const status = { lastConnectionSettingsHash: command.configHash, status: ConnectionSettingsStatuses.ConnectionSettingsStatuses_FAILED, errorMessage: "bad certificate" };
    const msg = create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 1n, capabilities: agent.metadata!.capabilities, connectionSettingsStatus: status });
    report(agent, msg, conn, { now: 3, known: true });
    expect(offerTransitions(agent, msg)).toEqual([{ commandId: "c1", to: "failed", detail: "bad certificate" }]);
    expect(buildServerToAgent(agent, { requestFullState: false }).message.connectionSettings).toBeUndefined();
  });

  it("are sent once to an agent that cannot report their status", () => {
    const agent = agentWith(cap(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings));
    applyConnectionSettings(agent, offers(), opts("c1"));
    const first = buildServerToAgent(agent, { requestFullState: false });
    expect(first.message.connectionSettings).toBeDefined();
    markDelivered(agent, first.deliveredCommandIds, 2);
    expect(buildServerToAgent(agent, { requestFullState: false }).message.connectionSettings).toBeUndefined();
  });

  it("settle the command without a message for an agent that accepts none of the parts", () => {
    const agent = agentWith(cap(AgentCapabilities.AgentCapabilities_ReportsStatus));
    applyConnectionSettings(agent, offers(), opts("c1"));
    const built = buildServerToAgent(agent, { requestFullState: false });
    expect(built.message.connectionSettings).toBeUndefined();
    expect(built.hasContent).toBe(false);
    expect(built.deliveredCommandIds).toEqual(["c1"]);
  });

  it("hash the same whatever the order of other connections, and refuse an empty offer", () => {
    const reordered = offers();
    reordered.otherConnections = { a: reordered.otherConnections.a!, b: reordered.otherConnections.b! };
    expect(computeConnectionSettingsHash(reordered)).toEqual(computeConnectionSettingsHash(offers()));
    expect(() => applyConnectionSettings(newAgent(uid, 0), create(ConnectionSettingsOffersSchema, {}), opts("x"))).toThrow(/at least one/);
  });
});

describe("package offers", () => {
  it("go to agents that accept packages with all_packages_hash, until the agent reports that hash", () => {
    const agent = agentWith(cap(AgentCapabilities.AgentCapabilities_AcceptsPackages, AgentCapabilities.AgentCapabilities_ReportsPackageStatuses));
    const { command } = applyPackagesAvailable(agent, { agent: pkg("1.2.0") }, opts("p1"));
    expect(command.kind).toBe(CommandKind.PACKAGES_AVAILABLE);
    const built = buildServerToAgent(agent, { requestFullState: false });
    const sent = built.message.packagesAvailable!;
    expect(sent.allPackagesHash).toEqual(command.configHash);
    expect(sent.packages.agent!.hash).toHaveLength(32); // computed: the admin gave none
    expect(built.message.capabilities & BigInt(ServerCapabilities.ServerCapabilities_OffersPackages)).not.toBe(0n);
    markDelivered(agent, built.deliveredCommandIds, 2);
    expect(buildServerToAgent(agent, { requestFullState: false }).message.packagesAvailable).toBeDefined(); // not reported yet

    const installing = create(AgentToServerSchema, {
      instanceUid: uid,
      sequenceNum: 1n,
      capabilities: agent.metadata!.capabilities,
      packageStatuses: { serverProvidedAllPackagesHash: sent.allPackagesHash, packages: { agent: { name: "agent", serverOfferedVersion: "1.2.0", status: PackageStatusEnum.PackageStatusEnum_Downloading, downloadDetails: { downloadPercent: 40 } } } },
    });
    report(agent, installing, conn, { now: 3, known: true });
    expect(offerTransitions(agent, installing)).toEqual([]); // still working on it
    expect(agent.status?.packageStatuses?.packages.agent?.downloadDetails?.downloadPercent).toBe(40);
    expect(buildServerToAgent(agent, { requestFullState: false }).message.packagesAvailable).toBeUndefined();

    const installed = create(AgentToServerSchema, {
      instanceUid: uid,
      sequenceNum: 2n,
      capabilities: agent.metadata!.capabilities,
      packageStatuses: { serverProvidedAllPackagesHash: sent.allPackagesHash, packages: { agent: { name: "agent", agentHasVersion: "1.2.0", status: PackageStatusEnum.PackageStatusEnum_Installed } } },
    });
    report(agent, installed, conn, { now: 4, known: true });
    expect(offerTransitions(agent, installed)).toEqual([{ commandId: "p1", to: "applied", detail: "" }]);
  });

  it("supersede an undelivered older offer, are not sent to agents that do not accept packages, and need a download URL", () => {
    const agent = agentWith(cap(AgentCapabilities.AgentCapabilities_ReportsStatus));
    applyPackagesAvailable(agent, { agent: pkg("1.0.0") }, opts("p1"));
    const { transitions } = applyPackagesAvailable(agent, { agent: pkg("1.1.0") }, opts("p2"));
    expect(transitions).toEqual([{ commandId: "p1", to: "superseded", detail: "a newer package set was offered before delivery" }]);
    expect(pendingCommands(agent).map((c) => c.id)).toEqual(["p2"]);
    expect(buildServerToAgent(agent, { requestFullState: false }).message.packagesAvailable).toBeUndefined();
    expect(() => applyPackagesAvailable(agent, { broken: create(PackageAvailableSchema, {}) }, opts("p3"))).toThrow(/download_url/);
  });
});

describe("certificate signing answers", () => {
  const tls = create(TLSCertificateSchema, { cert: new TextEncoder().encode("CERT"), caCert: new TextEncoder().encode("CA") });

  it("a certificate rides on the agent's OpAMP settings, which otherwise stay as they were", () => {
    const agent = agentWith(cap(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings, AgentCapabilities.AgentCapabilities_ReportsOwnMetrics));
    applyConnectionSettings(agent, offers(), opts("c1"));
    const before = agent.spec!.connectionSettings!.hash;
    applyCertificateOffer(agent, tls, "ws://unused/v1/opamp", opts("c2"));
    const sent = buildServerToAgent(agent, { requestFullState: false }).message.connectionSettings!;
    expect(sent.opamp?.destinationEndpoint).toBe("wss://opamp.example/v1/opamp");
    expect(sent.opamp?.headers?.headers[0]?.value).toBe("Bearer x");
    expect(sent.opamp?.certificate).toEqual(tls);
    expect(sent.ownMetrics?.destinationEndpoint).toBe("https://otlp.example/v1/metrics");
    expect(sent.hash).not.toEqual(before);
  });

  it("without OpAMP settings, the fallback endpoint and a 30 s heartbeat (0 would stop heartbeats) are offered with it", () => {
    const agent = agentWith(cap(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings));
    applyCertificateOffer(agent, tls, "wss://opamp.example/v1/opamp", opts("c1"));
    const opamp = buildServerToAgent(agent, { requestFullState: false }).message.connectionSettings!.opamp!;
    expect(opamp.destinationEndpoint).toBe("wss://opamp.example/v1/opamp");
    expect(opamp.heartbeatIntervalSeconds).toBe(30n);
  });

  it("the fallback endpoint is offered in the scheme of the agent's transport, TLS kept or not as given", () => {
    expect(endpointForTransport("wss://opamp.example/v1/opamp", ConnectionType.HTTP)).toBe("https://opamp.example/v1/opamp");
    expect(endpointForTransport("ws://127.0.0.1:4320/v1/opamp", ConnectionType.HTTP)).toBe("http://127.0.0.1:4320/v1/opamp");
    expect(endpointForTransport("https://opamp.example/v1/opamp", ConnectionType.WEBSOCKET)).toBe("wss://opamp.example/v1/opamp");
    expect(endpointForTransport("WSS://opamp.example/v1/opamp", ConnectionType.WEBSOCKET)).toBe("wss://opamp.example/v1/opamp");
    expect(endpointForTransport("wss://opamp.example/v1/opamp", undefined)).toBe("wss://opamp.example/v1/opamp");
    expect(endpointForTransport("", ConnectionType.HTTP)).toBe("");

    const agent = agentWith(cap(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings));
    agent.status!.connectionType = ConnectionType.HTTP;
    applyCertificateOffer(agent, tls, "wss://opamp.example/v1/opamp", opts("c1"));
    expect(buildServerToAgent(agent, { requestFullState: false }).message.connectionSettings!.opamp!.destinationEndpoint).toBe("https://opamp.example/v1/opamp");
  });

  it("a refusal goes alone, once, as error_response BAD_REQUEST", () => {
    const agent = agentWith(cap(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings));
    applyConnectionSettings(agent, offers(), opts("c1"));
    queueCertificateRefusal(agent, "the CSR names another agent", opts("c2"));
    const refusal = buildServerToAgent(agent, { requestFullState: false });
    expect(refusal.message.errorResponse).toMatchObject({ type: ServerErrorResponseType.ServerErrorResponseType_BadRequest, errorMessage: "the CSR names another agent" });
    expect(refusal.message.connectionSettings).toBeUndefined();
    expect(refusal.deliveredCommandIds).toEqual(["c2"]);
    markDelivered(agent, refusal.deliveredCommandIds, 2);
    const next = buildServerToAgent(agent, { requestFullState: false });
    expect(next.message.errorResponse).toBeUndefined();
    expect(next.message.connectionSettings).toBeDefined();
    expect(next.deliveredCommandIds).toEqual(["c1"]);
  });

  it("AcceptsConnectionSettingsRequest is announced only when certificates can be signed", () => {
    const bit = BigInt(ServerCapabilities.ServerCapabilities_AcceptsConnectionSettingsRequest);
    expect(serverCapabilities({ signsCertificates: true }) & bit).toBe(bit);
    expect(serverCapabilities({ signsCertificates: false }) & bit).toBe(0n);
    expect(buildServerToAgent(agentWith(0n), { requestFullState: false }).message.capabilities & bit).toBe(0n);
  });
});
