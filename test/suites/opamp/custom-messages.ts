import { describe, expect, it } from "vitest";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { WsAgent, description, httpPoll } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "./started-topology.js";

/** What the suite's servers are started with declaring (--custom-capabilities). */
export const SERVER_CUSTOM_CAPABILITIES = ["io.fleetplane.test", "io.fleetplane.echo/v2"];

/** Custom messages go both ways for a capability both sides declare; the server declares its own when it matters. */
export function customMessagesBehaviour(topology: Topology): void {
  describe("custom messages", () => {
    it("go both ways for a declared custom capability, delivered once", async () => {
      const t = topology();
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
      await agent.close();
    });

    it("are refused with FailedPrecondition for a capability the agent has not declared", async () => {
      const t = topology();
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ agentDescription: description("custom-undeclared") as never, customCapabilities: { $typeName: "opamp.proto.v1.CustomCapabilities", capabilities: ["io.fleetplane.test"] } });
      await eventually(() => agent.received[0]);
      await expect(t.agents.sendCustomMessage({ instanceUid: hex(agent.uid), capability: "io.other", type: "x" })).rejects.toMatchObject({ code: 9 });
      await agent.close();
    });

    it("the server declares its custom capabilities in the first reply of a connection and when the agent declares its own, not in every message", async () => {
      const t = topology();
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
      // The polls share a keep-alive connection, as real HTTP agents poll: a
      // gateway on several worker processes (--workers) knows an HTTP agent
      // per process, so a poll that reaches another process is its first there.
      const uid = uuidv7Bytes();
      const { Agent } = t.httpUrl.startsWith("https:") ? await import("node:https") : await import("node:http");
      const connection = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: 0n, agentDescription: description("custom-caps-http") as never }, { connection });
        expect(first.message!.customCapabilities?.capabilities).toEqual(SERVER_CUSTOM_CAPABILITIES);
        const second = await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: 1n }, { connection });
        expect(second.message!.customCapabilities).toBeUndefined();
      } finally {
        connection.destroy();
      }
    });
  });
}
