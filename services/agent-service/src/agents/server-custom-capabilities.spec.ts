import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ConnectionSchema, ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { newAgent, report } from "./agent-model.js";
import { buildServerToAgent } from "./server-to-agent-builder.js";
import { InvalidCustomCapabilityError, serverCustomCapabilities } from "./server-custom-capabilities.js";

const uid = new Uint8Array(16).fill(9);
const ws = (id: string) => create(ConnectionSchema, { id, type: ConnectionType.WEBSOCKET, gatewayId: "gw" });
const msg = (sequenceNum: bigint, fields: object = {}) => create(AgentToServerSchema, { instanceUid: uid, sequenceNum, ...fields });

describe("the server's custom capabilities", () => {
  it("are read from a comma-separated list of reverse FQDNs with optional versions", () => {
    expect(serverCustomCapabilities(" com.example.pause, io.acme.tail/v2 ,com.example.pause")?.capabilities).toEqual(["com.example.pause", "io.acme.tail/v2"]);
    expect(serverCustomCapabilities("")).toBeUndefined();
    expect(serverCustomCapabilities(" , ")).toBeUndefined();
    expect(() => serverCustomCapabilities("pause")).toThrow(InvalidCustomCapabilityError);
    expect(() => serverCustomCapabilities("com.example.pause/")).toThrow(/reverse FQDN/);
    expect(() => serverCustomCapabilities("com.example.with space")).toThrow(/with space/);
  });

  it("are declared on the first message of each connection and when the agent declares its own, not on every reply", () => {
    const declared = serverCustomCapabilities("com.example.pause")!;
    const agent = newAgent(uid, 0);
    const reply = (m: ReturnType<typeof msg>, connectionId: string, known = true) => {
      const outcome = report(agent, m, ws(connectionId), { now: 1, known });
      return buildServerToAgent(agent, { requestFullState: false, customCapabilities: declared, announceCustomCapabilities: outcome.announceCustomCapabilities });
    };

    const first = reply(msg(0n, { agentDescription: {} }), "c1", false);
    expect(first.message.customCapabilities?.capabilities).toEqual(["com.example.pause"]);
    expect(first.hasContent).toBe(false); // it says what the server is, like `capabilities`
    expect(reply(msg(1n), "c1").message.customCapabilities).toBeUndefined();
    // The agent's own list changed: it learns the server's in the answer.
    expect(reply(msg(2n, { customCapabilities: { capabilities: ["com.example.pause"] } }), "c1").message.customCapabilities).toEqual(declared);
    expect(reply(msg(3n), "c1").message.customCapabilities).toBeUndefined();
    // A reconnect (or a restarted server) starts over.
    expect(reply(msg(0n, { agentDescription: {} }), "c2").message.customCapabilities).toEqual(declared);
    // Pushes never carry it, and a server that declares none sends nothing.
    expect(buildServerToAgent(agent, { requestFullState: false, customCapabilities: declared }).message.customCapabilities).toBeUndefined();
    expect(reply(msg(0n, { agentDescription: {} }), "c3").message.customCapabilities).toEqual(declared);
    const outcome = report(agent, msg(0n, { agentDescription: {} }), ws("c4"), { now: 1, known: true });
    expect(buildServerToAgent(agent, { requestFullState: false, announceCustomCapabilities: outcome.announceCustomCapabilities }).message.customCapabilities).toBeUndefined();
  });
});
