import { describe, expect, it } from "vitest";
import { ServerToAgentFlags } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex } from "@fleetplane/platform";
import { CAPS, WsAgent, description, hasFlag } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "./started-topology.js";

/** What a WebSocket agent's reports make of it: a stored agent, and requests for its full state when the server lacks it. */
export function reportingBehaviour(topology: Topology): void {
  describe("a WebSocket agent", () => {
    it("is saved on connect, created on its first message, and told the server's capabilities", async () => {
      const t = topology();
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ agentDescription: description("ws-one") as never });
      const reply = await eventually(() => agent.received[0]);
      expect(hex(reply.instanceUid)).toBe(hex(agent.uid));
      expect(reply.capabilities).not.toBe(0n);
      expect(hasFlag(reply.flags, ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).toBe(false);

      const { agent: stored } = await t.agents.getAgent({ instanceUid: hex(agent.uid) });
      expect(stored?.status?.connected).toBe(true);
      expect(stored?.metadata?.capabilities).toBe(CAPS);
      expect(stored?.metadata?.description?.identifyingAttributes[0]?.key).toBe("service.name");
      await agent.close();
    });

    it("is asked for its full state when unknown without a description, and not once it has sent one", async () => {
      const agent = await WsAgent.connect(topology().wsUrl);
      agent.send();
      const first = await eventually(() => agent.received[0]);
      expect(hasFlag(first.flags, ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).toBe(true);
      agent.send({ agentDescription: description() as never });
      const second = await eventually(() => agent.received[1]);
      expect(hasFlag(second.flags, ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).toBe(false);
      await agent.close();
    });

    it("is asked for its full state after a gap in its sequence numbers", async () => {
      const agent = await WsAgent.connect(topology().wsUrl);
      agent.send({ agentDescription: description() as never });
      const first = await eventually(() => agent.received[0]);
      expect(hasFlag(first.flags, ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).toBe(false);
      agent.seq += 5n; // skip some messages
      agent.send();
      const afterGap = await eventually(() => agent.received[1]);
      expect(hasFlag(afterGap.flags, ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).toBe(true);
      await agent.close();
    });
  });
}
