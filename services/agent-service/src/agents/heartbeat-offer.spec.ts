import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ConnectionSchema, ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentCapabilities, AgentToServerSchema, ConnectionSettingsOffersSchema, ConnectionSettingsStatuses } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { markDelivered, newAgent, report } from "./agent-model.js";
import { desiredConnectionSettings, heartbeatOffer, noteHeartbeatInterval } from "./heartbeat-offer.js";
import { computeConnectionSettingsHash } from "./offer-hashes.js";
import { applyConnectionSettings, offerTransitions } from "./offers.js";
import { buildServerToAgent } from "./server-to-agent-builder.js";

const uid = new Uint8Array(16).fill(4);
const conn = create(ConnectionSchema, { id: "gw/ws/1", type: ConnectionType.WEBSOCKET, gatewayId: "gw", endpoint: "ws://opamp.local:4320/v1/opamp" });
const cap = (...c: AgentCapabilities[]) => BigInt(c.reduce((a, b) => a | b, 0));
const TAKES = [AgentCapabilities.AgentCapabilities_ReportsHeartbeat, AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings];

function agentWith(capabilities: bigint) {
  const agent = newAgent(uid, 0);
  report(agent, create(AgentToServerSchema, { instanceUid: uid, capabilities }), conn, { now: 0, known: false });
  return agent;
}

const reply = (agent: ReturnType<typeof agentWith>) => buildServerToAgent(agent, { requestFullState: false, heartbeat: heartbeatOffer(agent, 30n) });

describe("heartbeat interval offers", () => {
  it("are made only to agents that report heartbeats and accept OpAMP settings, at the URL they use, when the server offers an interval", () => {
    expect(reply(agentWith(cap(AgentCapabilities.AgentCapabilities_ReportsHeartbeat))).message.connectionSettings).toBeUndefined();
    expect(reply(agentWith(cap(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings))).message.connectionSettings).toBeUndefined();
    const agent = agentWith(cap(...TAKES));
    expect(buildServerToAgent(agent, { requestFullState: false, heartbeat: heartbeatOffer(agent, 0n) }).message.connectionSettings).toBeUndefined();
    const offer = reply(agent).message.connectionSettings!;
    expect(offer.opamp?.destinationEndpoint).toBe("ws://opamp.local:4320/v1/opamp");
    expect(offer.opamp?.heartbeatIntervalSeconds).toBe(30n);
    expect(offer.hash).toEqual(computeConnectionSettingsHash(offer));
  });

  it("reuse the merged settings while nothing that goes into them changes, and merge anew when something does", () => {
    const agent = agentWith(cap(...TAKES));
    const first = desiredConnectionSettings(agent, 30n)!;
    expect(desiredConnectionSettings(agent, 30n)).toBe(first);
    const slower = desiredConnectionSettings(agent, 60n)!;
    expect(slower.opamp?.heartbeatIntervalSeconds).toBe(60n);
    expect(slower.hash).not.toEqual(first.hash);
    agent.status!.opampEndpoint = "wss://elsewhere.example/v1/opamp";
    expect(desiredConnectionSettings(agent, 60n)!.opamp?.destinationEndpoint).toBe("wss://elsewhere.example/v1/opamp");
    applyConnectionSettings(agent, create(ConnectionSettingsOffersSchema, { opamp: { destinationEndpoint: "wss://admin.example/v1/opamp" } }), { commandId: "c1", requestedBy: "t", now: 0 });
    const withAdmin = desiredConnectionSettings(agent, 60n)!;
    expect(withAdmin.opamp?.destinationEndpoint).toBe("wss://admin.example/v1/opamp");
    expect(withAdmin.opamp?.heartbeatIntervalSeconds).toBe(60n);
    expect(withAdmin.hash).toEqual(computeConnectionSettingsHash(withAdmin));
  });

  it("go once to an agent that cannot report the status, and count as its interval from then on", () => {
    const agent = agentWith(cap(...TAKES));
    const first = reply(agent).message;
    expect(noteHeartbeatInterval(agent, heartbeatOffer(agent, 30n), { sent: first })).toBe(true);
    expect(agent.status?.heartbeatIntervalSeconds).toBe(30n);
    expect(reply(agent).message.connectionSettings).toBeUndefined();
    // The server's interval changes (a restart with another setting): offered again.
    expect(buildServerToAgent(agent, { requestFullState: false, heartbeat: heartbeatOffer(agent, 10n) }).message.connectionSettings?.opamp?.heartbeatIntervalSeconds).toBe(10n);
  });

  it("are resent to an agent that reports the status until it reports the hash, and count only once APPLIED", () => {
    const capabilities = cap(...TAKES, AgentCapabilities.AgentCapabilities_ReportsConnectionSettingsStatus);
    const agent = agentWith(capabilities);
    const offer = reply(agent).message.connectionSettings!;
    expect(noteHeartbeatInterval(agent, heartbeatOffer(agent, 30n), { sent: reply(agent).message })).toBe(false);
    expect(reply(agent).message.connectionSettings).toBeDefined(); // not reported yet
    const failed = create(AgentToServerSchema, { instanceUid: uid, capabilities, sequenceNum: 1n, connectionSettingsStatus: { lastConnectionSettingsHash: offer.hash, status: ConnectionSettingsStatuses.ConnectionSettingsStatuses_FAILED } });
    report(agent, failed, conn, { now: 1, known: true });
    expect(noteHeartbeatInterval(agent, heartbeatOffer(agent, 30n), { reported: failed })).toBe(false);
    expect(reply(agent).message.connectionSettings).toBeUndefined(); // it has an answer for this hash
    const ok = create(AgentToServerSchema, { instanceUid: uid, capabilities, sequenceNum: 2n, connectionSettingsStatus: { lastConnectionSettingsHash: offer.hash, status: ConnectionSettingsStatuses.ConnectionSettingsStatuses_APPLIED } });
    report(agent, ok, conn, { now: 2, known: true });
    expect(noteHeartbeatInterval(agent, heartbeatOffer(agent, 30n), { reported: ok })).toBe(true);
    expect(agent.status?.heartbeatIntervalSeconds).toBe(30n);
  });

  it("merge into the admin's offer without touching it, keep an interval the admin chose, and settle the admin's audit on the merged hash", () => {
    const agent = agentWith(cap(...TAKES, AgentCapabilities.AgentCapabilities_ReportsConnectionSettingsStatus, AgentCapabilities.AgentCapabilities_ReportsOwnMetrics));
    const offers = create(ConnectionSettingsOffersSchema, { opamp: { destinationEndpoint: "wss://elsewhere/v1/opamp" }, ownMetrics: { destinationEndpoint: "https://otlp" } });
    applyConnectionSettings(agent, offers, { commandId: "c1", requestedBy: "admin", now: 1 });
    const adminHash = agent.spec!.connectionSettings!.hash;
    const built = reply(agent);
    const sent = built.message.connectionSettings!;
    expect(built.deliveredCommandIds).toEqual(["c1"]);
    expect(sent.opamp?.destinationEndpoint).toBe("wss://elsewhere/v1/opamp");
    expect(sent.opamp?.heartbeatIntervalSeconds).toBe(30n);
    expect(sent.ownMetrics?.destinationEndpoint).toBe("https://otlp");
    expect(sent.hash).not.toEqual(adminHash);
    expect(agent.spec!.connectionSettings!.opamp?.heartbeatIntervalSeconds).toBe(0n);
    markDelivered(agent, built.deliveredCommandIds, 2);
    const applied = create(AgentToServerSchema, { instanceUid: uid, connectionSettingsStatus: { lastConnectionSettingsHash: sent.hash, status: ConnectionSettingsStatuses.ConnectionSettingsStatuses_APPLIED } });
    expect(offerTransitions(agent, applied, heartbeatOffer(agent, 30n))).toEqual([{ commandId: "c1", to: "applied", detail: "" }]);

    applyConnectionSettings(agent, create(ConnectionSettingsOffersSchema, { opamp: { destinationEndpoint: "wss://elsewhere/v1/opamp", heartbeatIntervalSeconds: 5n } }), { commandId: "c2", requestedBy: "admin", now: 3 });
    expect(desiredConnectionSettings(agent, 30n)).toBe(agent.spec!.connectionSettings); // the admin's own, unchanged
  });
});
