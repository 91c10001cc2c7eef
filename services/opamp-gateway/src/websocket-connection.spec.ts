import { fromBinary } from "@bufbuild/protobuf";
import { ServerToAgentSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { SERVER_CAPABILITIES, serverToAgent } from "@fleetplane/opamp";
import { PAUSED_FOR_QUEUE, PAUSED_FOR_WRITES, type ServerWebSocket } from "./server-websocket.js";
import { describe, expect, it } from "vitest";
import { AgentConnectionClosedError } from "./agent-connection.js";
import { NO_CREDENTIALS } from "./agent-authentication.js";
import { WebSocketAgentConnection } from "./websocket-connection.js";

const uid = new Uint8Array(16).fill(3);
const other = new Uint8Array(16).fill(4);

/** A connection over a socket that records what is written to it. */
function connection() {
  const writes: Buffer[] = [];
  const socket = { readyState: 1, OPEN: 1, write: (bytes: Buffer) => void writes.push(bytes) };
  const conn = new WebSocketAgentConnection("ws-1", "127.0.0.1", "ws://test", NO_CREDENTIALS, socket as unknown as ServerWebSocket<WebSocketAgentConnection>, 1 << 20);
  return { conn, writes, socket };
}

/** The ServerToAgent in a written frame (2-byte WebSocket header, the OpAMP header 0, the protobuf). */
const decoded = (frame: Buffer) => fromBinary(ServerToAgentSchema, new Uint8Array(frame.subarray(3)));

/**
 * The byte arrays a connection holds in its own fields, and in plain objects
 * and arrays under them, leaving out the socket, the stream and `skip`.
 */
function bytesHeldBy(conn: object, skip: Set<unknown>): Uint8Array[] {
  const found: Uint8Array[] = [];
  const seen = new Set<unknown>(skip);
  const walk = (value: unknown): void => {
    if (typeof value !== "object" || value === null || seen.has(value)) return;
    seen.add(value);
    if (value instanceof Uint8Array) return void found.push(value);
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto === Object.prototype || proto === null || Array.isArray(value)) for (const v of Object.values(value)) walk(v);
  };
  const { socket: _socket, stream: _stream, ...fields } = conn as Record<string, unknown>;
  for (const v of Object.values(fields)) walk(v);
  return found;
}

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

  it("keeps the acknowledgement's frame and the message it was encoded from, and no bytes beside them", () => {
    // Per socket, at 100,000 sockets: a copy of the UID beside the frame was ~20 MiB (docs/performance.md §41).
    const { conn, writes } = connection();
    const ack = serverToAgent(new Uint8Array(uid), SERVER_CAPABILITIES);
    conn.send(ack);
    const held = bytesHeldBy(conn, new Set<unknown>([ack]));
    expect(held).toEqual([writes[0]]);
    // An equal acknowledgement in another object takes the older one's place (which may then go).
    const again = serverToAgent(new Uint8Array(uid), SERVER_CAPABILITIES);
    conn.send(again);
    expect(writes[1]).toBe(writes[0]);
    expect(Object.values(conn)).toContain(again);
    expect(Object.values(conn)).not.toContain(ack);
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

/** A connection over a socket that only counts pings and terminations. */
function pingedConnection() {
  const socket = {
    pings: 0,
    terminated: false,
    pausedFor: 0,
    /** What tookWritesSinceLastLook says while paused for writes: a test sets it to play a peer that takes our writes, or not. */
    taking: false,
    ping() {
      this.pings++;
    },
    terminate() {
      this.terminated = true;
    },
    tookWritesSinceLastLook() {
      return (this.pausedFor & PAUSED_FOR_WRITES) !== 0 && this.taking;
    },
  };
  const conn = new WebSocketAgentConnection("gw/ws/1", "127.0.0.1", "/v1/opamp", {} as never, socket as unknown as ServerWebSocket<WebSocketAgentConnection>, 1 << 20);
  return { conn, socket };
}

describe("a WebSocket's liveness check (checkAlive, once per ping interval)", () => {
  it("does not ping a socket the agent sent a message on since the last check", () => {
    const { conn, socket } = pingedConnection();
    for (let i = 0; i < 5; i++) {
      conn.spoke = true; // a heartbeat each interval
      expect(conn.checkAlive()).toBe(true);
    }
    expect(socket.pings).toBe(0);
  });

  it("pings a silent socket, keeps it while it answers, and terminates it at the next check without a pong", () => {
    const { conn, socket } = pingedConnection();
    expect(conn.checkAlive()).toBe(true);
    expect(socket.pings).toBe(1);
    conn.alive = true; // the pong
    expect(conn.checkAlive()).toBe(true);
    expect(socket.pings).toBe(2);
    expect(conn.checkAlive(), "no pong since the last ping: half-open").toBe(false);
    expect(socket.terminated).toBe(true);
  });

  it("pings a socket that went quiet after its messages, and terminates it when the ping is not answered", () => {
    const { conn, socket } = pingedConnection();
    conn.spoke = true;
    expect(conn.checkAlive()).toBe(true);
    expect(socket.pings).toBe(0);
    expect(conn.checkAlive(), "silent since: pinged").toBe(true);
    expect(socket.pings).toBe(1);
    expect(conn.checkAlive()).toBe(false);
    expect(socket.terminated).toBe(true);
  });

  it("does not count an unanswered ping against a socket we stopped reading from because our own queue is full", () => {
    const { conn, socket } = pingedConnection();
    conn.checkAlive();
    socket.pausedFor = PAUSED_FOR_QUEUE;
    expect(conn.checkAlive()).toBe(true);
    expect(socket.terminated).toBe(false);
  });

  it("keeps a socket paused for writes while its peer takes them, however slowly, and terminates it at the check after it stops", () => {
    const { conn, socket } = pingedConnection();
    expect(conn.checkAlive()).toBe(true); // pinged; the pong will sit unread behind our writes
    socket.pausedFor = PAUSED_FOR_WRITES;
    socket.taking = true;
    for (let i = 1; i <= 10; i++) expect(conn.checkAlive(), `check ${i}`).toBe(true);
    expect(socket.terminated).toBe(false);
    socket.taking = false;
    expect(conn.checkAlive()).toBe(false);
    expect(socket.terminated).toBe(true);
  });

  it("counts it against a socket we stopped reading from because its peer does not read our writes, queue or not", () => {
    for (const pausedFor of [PAUSED_FOR_WRITES, PAUSED_FOR_WRITES | PAUSED_FOR_QUEUE]) {
      const { conn, socket } = pingedConnection();
      conn.checkAlive();
      socket.pausedFor = pausedFor;
      expect(conn.checkAlive(), `paused for ${pausedFor}`).toBe(false);
      expect(socket.terminated).toBe(true);
    }
  });
});
