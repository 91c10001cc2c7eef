import { describe, expect, it } from "vitest";
import { AgentToServerFlags } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { WsAgent, description } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "./started-topology.js";

/** The server hands out instance UIDs: on request, and to a second live agent using one already taken. */
export function instanceUidBehaviour(topology: Topology): void {
  describe("a WebSocket agent", () => {
    it("is given a new instance UID when it asks for one", async () => {
      const agent = await WsAgent.connect(topology().wsUrl);
      agent.send({ flags: BigInt(AgentToServerFlags.AgentToServerFlags_RequestInstanceUid) });
      const reply = await eventually(() => agent.received[0]);
      const fresh = reply.agentIdentification!.newInstanceUid;
      expect(fresh).toHaveLength(16);
      expect(fresh[6]! >> 4).toBe(7); // UUIDv7
      await agent.close();
    });

    it("a second live agent with the same UID is told to take a new one", async () => {
      const t = topology();
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
}
