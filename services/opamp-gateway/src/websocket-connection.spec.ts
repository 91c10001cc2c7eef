import { fromBinary } from "@bufbuild/protobuf";
import { ServerToAgentSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { SERVER_CAPABILITIES, serverToAgent } from "@fleetplane/opamp";
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import { describe, expect, it } from "vitest";
import { AgentConnectionClosedError } from "./agent-connection.js";
import { NO_CREDENTIALS } from "./agent-authentication.js";
import { WebSocketAgentConnection } from "./websocket-connection.js";

const uid = new Uint8Array(16).fill(3);
const other = new Uint8Array(16).fill(4);

/** A connection over a socket that records what is written to it. */
function connection() {
  const writes: Buffer[] = [];
  const socket = { readyState: 1, OPEN: 1 };
  const stream = { write: (bytes: Buffer) => void writes.push(bytes) };
  const conn = new WebSocketAgentConnection("ws-1", "127.0.0.1", "ws://test", NO_CREDENTIALS, socket as unknown as WebSocket, stream as unknown as Duplex, 1 << 20);
  return { conn, writes, socket };
}

/** The ServerToAgent in a written frame (2-byte WebSocket header, the OpAMP header 0, the protobuf). */
const decoded = (frame: Buffer) => fromBinary(ServerToAgentSchema, new Uint8Array(frame.subarray(3)));

describe("a WebSocket connection's replies", () => {
  it("writes the same acknowledgement object as the same frame, and anything else encoded afresh", () => {
    const { conn, writes } = connection();
    const ack = serverToAgent(uid, SERVER_CAPABILITIES);
    conn.send(ack);
    conn.send(ack);
    expect(writes[1]).toBe(writes[0]);
    expect(decoded(writes[0]!)).toEqual(ack);
    // An equal acknowledgement in another object: the cached bytes still serve.
    conn.send(serverToAgent(uid, SERVER_CAPABILITIES));
    expect(writes[2]).toBe(writes[0]);
    // Another UID, other capabilities, a message that says more: each is its own frame.
    const cases = [serverToAgent(other, SERVER_CAPABILITIES), serverToAgent(uid, SERVER_CAPABILITIES | 0x100n), serverToAgent(uid, SERVER_CAPABILITIES, { flags: 1n })];
    for (const message of cases) {
      conn.send(message);
      expect(writes.at(-1)).not.toBe(writes[0]);
      expect(decoded(writes.at(-1)!)).toEqual(message);
    }
    // The last acknowledgement encoded is the one answered from the cache now.
    const after = writes.length;
    conn.send(cases[1]!);
    expect(writes[after]).toBe(writes[after - 2]);
  });

  it("writes nothing once the close handshake has begun, not even a cached acknowledgement", () => {
    const { conn, writes, socket } = connection();
    const ack = serverToAgent(uid, SERVER_CAPABILITIES);
    conn.send(ack);
    socket.readyState = 2; // CLOSING
    expect(() => conn.send(ack)).toThrow(AgentConnectionClosedError);
    expect(writes).toHaveLength(1);
  });
});
