import { describe, expect, it } from "vitest";
import { CommandKind, RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { CommandType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex } from "@fleetplane/platform";
import { WsAgent, description } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "./started-topology.js";

/** Commands (Restart) reach a WebSocket agent at once, alone in their message, and once. */
export function commandsBehaviour(topology: Topology): void {
  describe("a WebSocket agent", () => {
    it("gets a Restart command on its own, delivered once", async () => {
      const t = topology();
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ agentDescription: description() as never });
      await eventually(() => agent.received[0]);
      // A config the agent has not reported yet is pending, so a message for
      // this agent would carry it — but a command goes alone (OpAMP: a
      // ServerToAgent with a command sets no other field).
      await t.agents.setRemoteConfig({ instanceUid: hex(agent.uid), files: { "": { content: { case: "text", value: "pending: true" } } } });
      await eventually(() => agent.received.find((m) => m.remoteConfig));
      const { agent: stored } = await t.agents.getAgent({ instanceUid: hex(agent.uid) });
      expect(stored?.spec?.remoteConfig?.data?.status).not.toBe(RemoteConfigState.APPLIED);

      const { pushed } = await t.agents.sendCommand({ instanceUid: hex(agent.uid), kind: CommandKind.RESTART, requestedBy: "e2e" });
      expect(pushed).toBe(true);
      const cmd = await eventually(() => agent.received.find((m) => m.command));
      expect(cmd.command!.type).toBe(CommandType.CommandType_Restart);
      expect(cmd.remoteConfig).toBeUndefined();
      const before = agent.received.length;
      agent.send();
      await eventually(() => agent.received.length > before);
      expect(agent.received.filter((m) => m.command)).toHaveLength(1);
      await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands[0]?.state === CommandState.DELIVERED);
      await agent.close();
    });
  });
}
