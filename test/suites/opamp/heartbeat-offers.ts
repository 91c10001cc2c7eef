import { describe, expect, it } from "vitest";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { AgentCapabilities, ConnectionSettingsStatuses } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { CAPS, WsAgent, description, httpPoll } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "./started-topology.js";

const HEARTBEAT = BigInt(AgentCapabilities.AgentCapabilities_ReportsHeartbeat | AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings);
const REPORTS_SETTINGS = BigInt(AgentCapabilities.AgentCapabilities_ReportsConnectionSettingsStatus);

/**
 * How far apart the simulated agent sends its heartbeats: beyond the 1.5 s an
 * agent of unknown interval may stay silent, within two missed 2 s intervals.
 * This wait is the agent's behaviour under test (its silence), not a guess at
 * when the server is done, so it stays a timer; what the server makes of it is
 * polled for.
 */
const AGENT_HEARTBEAT_CADENCE_MS = 2_500;

const applied = (hash: Uint8Array) => ({
  $typeName: "opamp.proto.v1.ConnectionSettingsStatus" as const,
  lastConnectionSettingsHash: hash,
  status: ConnectionSettingsStatuses.ConnectionSettingsStatuses_APPLIED,
  errorMessage: "",
});

/** The server offers its heartbeat interval to agents that can take it, and judges them by it. */
export function heartbeatOffersBehaviour(topology: Topology): void {
  const intervalInApi = async (uid: Uint8Array) => (await topology().agents.getAgent({ instanceUid: hex(uid) })).agent?.status?.heartbeatIntervalSeconds;

  describe("heartbeat interval offers", () => {
    it("reach WebSocket agents that report heartbeats and accept OpAMP settings, which are then judged by that interval", async () => {
      const t = topology();
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

      // Heartbeats at the agent's cadence keep it connected, and each is answered.
      const answeredBefore = agent.received.length;
      for (let beat = 0; beat < 2; beat++) {
        await new Promise((r) => setTimeout(r, AGENT_HEARTBEAT_CADENCE_MS));
        expect(agent.closeCode).toBeUndefined();
        agent.send({ capabilities: caps });
      }
      const lastHeartbeat = Date.now();
      await eventually(() => agent.received.length >= answeredBefore + 2, 5_000, "both heartbeats answered");
      await eventually(() => agent.closeCode, 10_000, "close after two missed 2 s heartbeats");
      expect(Date.now() - lastHeartbeat).toBeGreaterThanOrEqual(3_500);
      await eventually(async () => (await t.agents.getAgent({ instanceUid: hex(agent.uid) })).agent?.status?.connected === false, 10_000, "recorded disconnected");
    }, 30_000);

    it("merge into an admin's OpAMP offer, whose own interval wins", async () => {
      const t = topology();
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
      const t = topology();
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
}
