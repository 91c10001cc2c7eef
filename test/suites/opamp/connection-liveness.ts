import { describe, expect, it } from "vitest";
import { AgentCapabilities } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { CAPS, WsAgent, description } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "./started-topology.js";

/** How long a WebSocket agent counts as connected: its connection record, missed heartbeats, half-open sockets. */
export function connectionLivenessBehaviour(topology: Topology): void {
  describe("a WebSocket agent", () => {
    it("has its connection saved while connected; is marked disconnected after it closes, and its connection is deleted", async () => {
      const t = topology();
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
      const t = topology();
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
      const t = topology();
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
  });
}
