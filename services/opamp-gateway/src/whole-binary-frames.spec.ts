import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { PAUSED_FOR_QUEUE, type ServerWebSocket, type ServerWebSocketEvents } from "./server-websocket.js";
import { completeWebSocketHandshake } from "./websocket-handshake.js";
import { readWholeFramesFromSocket } from "./whole-binary-frames.js";
import { closedAfterEach, frame, random, randomChunks, randomFrame } from "./websocket-spec-support.js";

const MAX_PAYLOAD = 70_000;
/** Fresh seeds for a run: FUZZ_SEED_OFFSET=<n> shifts every seed of the fuzz. */
const SEED_OFFSET = Number(process.env.FUZZ_SEED_OFFSET ?? 0);

/** One upgraded connection's server side: its events in order, the payloads as delivered, and how many came by the fast path. */
interface Connection {
  ws: ServerWebSocket<Connection>;
  socket: Duplex;
  log: string[];
  payloads: Buffer[];
  direct: number;
}

const events: ServerWebSocketEvents<Connection> = {
  message(ws, data, isBinary) {
    const conn = ws.owner!;
    conn.log.push(`message ${isBinary} ${data.toString("hex")}`);
    conn.payloads.push(data);
  },
  pong: (ws) => ws.owner!.log.push("pong"),
  error: (ws, err) => ws.owner!.log.push(`error ${err.closeCode} ${err.kind}`),
  stalled: (ws) => ws.owner!.log.push("stalled"),
  close: (ws) => ws.owner!.log.push("close"),
};

const { servers, upgraded } = closedAfterEach();

/** A server (http, or https with `tls`) whose upgrades go through completeWebSocketHandshake, and, with `fast`, readWholeFramesFromSocket as the gateway does. */
async function serve(fast: boolean, tls?: { key: Buffer; cert: Buffer }): Promise<{ port: number; connections: Connection[] }> {
  const refuser = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false });
  const connections: Connection[] = [];
  const server = tls ? https.createServer(tls, (_req, res) => res.end()) : http.createServer((_req, res) => res.end());
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.push(socket);
    const ws = completeWebSocketHandshake<Connection>(refuser, req, socket, head, { maxPayload: MAX_PAYLOAD, closeTimeoutMs: 30_000, maxUnsentBytes: 0 }, events);
    if (ws === undefined) return;
    const conn: Connection = { ws, socket, log: [], payloads: [], direct: 0 };
    ws.owner = conn;
    // Counts the messages the fast path hands over (it calls deliverWholeFrame; the stream path emits from receive()).
    const deliver = ws.deliverWholeFrame.bind(ws);
    ws.deliverWholeFrame = (payload: Buffer) => {
      conn.direct++;
      deliver(payload);
    };
    connections.push(conn);
    if (fast) readWholeFramesFromSocket(ws);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, connections };
}

/** Polls `done` every turn of the event loop (expect.poll's 50 ms interval would make a fuzz of thousands of reads crawl). */
async function until(done: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The process-wide read buffer the fast path gave this socket (net's kBuffer), if any. */
function sharedReadBuffer(socket: Duplex): Buffer | undefined {
  const own = socket as unknown as Record<symbol, unknown>;
  const kBuffer = Object.getOwnPropertySymbols(own).find((k) => k.description === "kBuffer");
  return kBuffer === undefined ? undefined : ((own[kBuffer] as Buffer | null) ?? undefined);
}

/** A raw client after its upgrade: `send` writes bytes and waits until the server's socket has read them, so each send is a read of its own. */
async function rawClient(port: number, server: { connections: Connection[] }): Promise<{ send(bytes: Buffer): Promise<void>; received: () => Buffer; socket: net.Socket }> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  socket.setNoDelay(true);
  await once(socket, "connect");
  const before = server.connections.length;
  socket.write("GET /v1/opamp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  const parts: Buffer[] = [];
  socket.on("data", (d: Buffer) => parts.push(d));
  await until(() => Buffer.concat(parts).includes("\r\n\r\n") && server.connections.length === before + 1, "the upgrade");
  const conn = server.connections[before]!;
  const serverSocket = conn.socket as net.Socket;
  const headEnd = Buffer.concat(parts).indexOf("\r\n\r\n") + 4;
  return {
    socket,
    received: () => Buffer.concat(parts).subarray(headEnd),
    async send(bytes: Buffer) {
      const target = serverSocket.bytesRead + bytes.length;
      socket.write(bytes);
      // Read by the server (or its connection gone: a protocol error closes it).
      await until(() => serverSocket.bytesRead >= target || serverSocket.destroyed || conn.log.includes("close"), "the server to read the bytes sent");
    },
  };
}

describe("whole binary frames read from the socket's shared buffer (readWholeFramesFromSocket)", () => {
  it("delivers whole frames of 1–125 and 126–65,535 bytes exactly, each payload a Buffer of its own that later reads leave unchanged", async () => {
    const server = await serve(true);
    const client = new WebSocket(`ws://127.0.0.1:${server.port}/v1/opamp`);
    await once(client, "open");
    const conn = server.connections[0]!;
    const shared = sharedReadBuffer(conn.socket);
    expect(shared).toBeDefined();
    const sizes = [1, 2, 3, 4, 5, 7, 27, 124, 125, 126, 127, 300, 1_000, 4_096, 16_384, 65_000, 65_528, 65_529, 65_535];
    const sent: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      for (const n of sizes) {
        const payload = Buffer.alloc(n).map((_, j) => (i * 31 + j * 7 + n) & 0xff);
        sent.push(Buffer.from(payload));
        client.send(payload);
        // One at a time: each frame is a read of its own, as a heartbeat is.
        await until(() => conn.payloads.length === sent.length, `message ${sent.length}`);
      }
    }
    // Every payload kept is still what was sent, though later reads went through the same shared buffer.
    expect(conn.payloads.map((p) => p.toString("hex"))).toEqual(sent.map((p) => p.toString("hex")));
    for (const p of conn.payloads) expect(p.buffer === shared!.buffer).toBe(false);
    // The fast path took the frames that fit one read of 64 KiB (payload ≤ 65,528 with its 8-byte head), not only the stream path.
    const fitting = sizes.filter((n) => n <= 65_528).length * 3;
    expect(conn.direct).toBeGreaterThanOrEqual(fitting - 3);
    expect(conn.direct).toBeLessThanOrEqual(fitting);
    client.terminate();
  });

  it("reads everything else through the stream path as ServerWebSocket does: split frames, frames sharing a read, text, fragments, control frames, a 64-bit length", async () => {
    const server = await serve(true);
    const client = await rawClient(server.port, server);
    const conn = server.connections[0]!;
    const split = frame(0x82, Buffer.from("split across writes"));
    await client.send(split.subarray(0, 5));
    await client.send(split.subarray(5));
    await client.send(Buffer.concat([frame(0x82, Buffer.from("one")), frame(0x82, Buffer.from("two"))]));
    await client.send(frame(0x81, Buffer.from("text é")));
    await client.send(frame(0x02, Buffer.from("frag-")));
    await client.send(frame(0x89, Buffer.from("ping between")));
    await client.send(frame(0x80, Buffer.from("ment")));
    await client.send(frame(0x8a, Buffer.from("pong")));
    await client.send(frame(0x82, Buffer.from("long length"), { lengthBits: 64 }));
    await client.send(frame(0x82, Buffer.from("after")));
    const hex = (s: string) => Buffer.from(s).toString("hex");
    expect(conn.log).toEqual([
      `message true ${hex("split across writes")}`,
      `message true ${hex("one")}`,
      `message true ${hex("two")}`,
      `message false ${hex("text é")}`,
      `message true ${hex("frag-ment")}`,
      "pong",
      `message true ${hex("long length")}`,
      `message true ${hex("after")}`,
    ]);
    // Only the last frame was a whole binary frame read on its own between messages.
    expect(conn.direct).toBe(1);
    await expect.poll(() => client.received().toString("hex")).toBe(`8a0c${hex("ping between")}`);
  });

  it("does not take a whole frame that arrives inside a fragmented message (1002, as ws) or after a close frame", async () => {
    const server = await serve(true);
    const inside = await rawClient(server.port, server);
    await inside.send(frame(0x02, Buffer.from("start")));
    await inside.send(frame(0x82, Buffer.from("whole")));
    expect(server.connections[0]!.log[0]).toBe("error 1002 protocol");
    expect(server.connections[0]!.direct).toBe(0);
    const after = await rawClient(server.port, server);
    await after.send(frame(0x88, Buffer.alloc(0)));
    await after.send(frame(0x82, Buffer.from("late")));
    await expect.poll(() => server.connections[1]!.log).toEqual(["close"]);
    expect(server.connections[1]!.direct).toBe(0);
  });

  it("delivers nothing while the WebSocket is paused, then every message in order after resume()", async () => {
    const server = await serve(true);
    const client = new WebSocket(`ws://127.0.0.1:${server.port}/v1/opamp`);
    await once(client, "open");
    const conn = server.connections[0]!;
    client.send(Buffer.from("first"));
    await expect.poll(() => conn.payloads.length).toBe(1);
    conn.ws.pause(PAUSED_FOR_QUEUE);
    const sent = Array.from({ length: 50 }, (_, i) => Buffer.from(`m${i}`));
    // Each written out before the next (separate reads, had the socket been read).
    for (const m of sent) await new Promise<void>((resolve, reject) => client.send(m, (err) => (err ? reject(err) : resolve())));
    // In the server's socket buffer (loopback) by now: a socket still read would have delivered them within these turns.
    for (let i = 0; i < 6; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(conn.payloads).toHaveLength(1);
    conn.ws.resume(PAUSED_FOR_QUEUE);
    await expect.poll(() => conn.payloads.length).toBe(51);
    expect(conn.payloads.slice(1).map(String)).toEqual(sent.map(String));
    client.terminate();
  });

  it("gives the same events with and without the fast path on 400 random streams over a real socket", async () => {
    const fast = await serve(true);
    const plain = await serve(false);
    let direct = 0;
    for (let seed = 1 + SEED_OFFSET; seed <= 400 + SEED_OFFSET; seed++) {
      const logs: string[][] = [];
      for (const server of [plain, fast]) {
        const next = random(seed * 7919);
        const frames = Array.from({ length: 1 + Math.floor(next() * 10) }, () => randomFrame(next, { maxPayload: MAX_PAYLOAD }));
        const client = await rawClient(server.port, server);
        for (const chunk of randomChunks(next, frames)) await client.send(chunk);
        const conn = server.connections.at(-1)!;
        client.socket.destroy();
        await until(() => conn.log.at(-1) === "close", `seed ${seed}'s close`);
        logs.push(conn.log);
        if (server === fast) direct += conn.direct;
      }
      expect(logs[1], `seed ${seed}`).toEqual(logs[0]);
    }
    // The fuzz reaches the fast path, not only the stream path.
    expect(direct).toBeGreaterThan(100);
  }, 120_000);

  it("leaves a TLS socket to the TLS layer (no shared buffer), and its messages still arrive", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleetplane-whole-frames-"));
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
      const tls = { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
      const server = await serve(true, tls);
      const client = new WebSocket(`wss://127.0.0.1:${server.port}/v1/opamp`, { ca: tls.cert });
      await once(client, "open");
      const conn = server.connections[0]!;
      expect(sharedReadBuffer(conn.socket)).toBeUndefined();
      const sent = [Buffer.from("over tls"), Buffer.alloc(300, 7), Buffer.alloc(40_000, 9)];
      for (const m of sent) client.send(m);
      await expect.poll(() => conn.payloads.length).toBe(sent.length);
      expect(conn.payloads.map((p) => p.toString("hex"))).toEqual(sent.map((p) => p.toString("hex")));
      expect(conn.direct).toBe(0);
      client.terminate();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
