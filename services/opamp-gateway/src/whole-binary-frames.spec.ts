import { once } from "node:events";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import * as ws from "ws";
import { WebSocket, WebSocketServer } from "ws";
import { shortcutReceiver, takeWholeBinaryFrames } from "./whole-binary-frames.js";

type Receiver = Parameters<typeof shortcutReceiver>[0] & { on(event: string, f: (...args: unknown[]) => void): void };
const ReceiverClass = (ws as unknown as { Receiver: new (o: object) => Receiver }).Receiver;

/** A deterministic generator, so a failing seed can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

/** One RFC 6455 frame as a client writes it (masked unless told not to). */
function frame(first: number, payload: Buffer, opts: { mask?: Buffer | null; lengthBits?: 7 | 16 | 64 } = {}): Buffer {
  const n = payload.length;
  const bits = opts.lengthBits ?? (n < 126 ? 7 : n < 0x10000 ? 16 : 64);
  const mask = opts.mask === undefined ? Buffer.from([0x12, 0x34, 0x56, 0x78]) : opts.mask;
  const head = Buffer.alloc(2 + (bits === 16 ? 2 : bits === 64 ? 8 : 0));
  head[0] = first;
  head[1] = (mask ? 0x80 : 0) | (bits === 7 ? n : bits === 16 ? 126 : 127);
  if (bits === 16) head.writeUInt16BE(n, 2);
  if (bits === 64) head.writeBigUInt64BE(BigInt(n), 2);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < n; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat(mask ? [head, mask, body] : [head, body]);
}

/** What a Receiver tells ws, in order: messages, pings, pongs, the close, an error's code and status. */
function record(receiver: Receiver): string[] {
  const events: string[] = [];
  receiver.on("message", (data, isBinary) => events.push(`message ${isBinary} ${(data as Buffer).toString("hex")} ${Buffer.isBuffer(data)}`));
  receiver.on("ping", (data) => events.push(`ping ${(data as Buffer).toString("hex")}`));
  receiver.on("pong", (data) => events.push(`pong ${(data as Buffer).toString("hex")}`));
  receiver.on("conclude", (code, reason) => events.push(`conclude ${code} ${(reason as Buffer).toString("hex")}`));
  receiver.on("error", (err) => events.push(`error ${(err as { code?: string }).code} ${(err as Record<symbol, unknown>)[Object.getOwnPropertySymbols(err as object).find((s) => s.description === "status-code")!]}`));
  return events;
}

const MAX_PAYLOAD = 70_000;

/**
 * Feeds the same chunks (copies: both unmask in place) to ws's Receiver with
 * and without the shortcut; its errors are emitted on the next tick.
 */
async function both(chunks: Buffer[], direct = false): Promise<{ plain: string[]; shortcut: string[]; taken: number; delivered: number }> {
  const plain = new ReceiverClass({ isServer: true, maxPayload: MAX_PAYLOAD });
  const fast = new ReceiverClass({ isServer: true, maxPayload: MAX_PAYLOAD });
  const plainEvents = record(plain);
  const fastEvents = record(fast);
  const write = fast.write.bind(fast);
  let handedOn = 0;
  fast.write = (chunk: Buffer) => {
    handedOn++;
    return write(chunk);
  };
  // direct: the shortcut hands its messages to a listener of its own (as the
  // transport does), recorded as the Receiver's 'message' listener records them.
  let delivered = 0;
  if (direct) {
    shortcutReceiver(fast, (data, isBinary) => {
      delivered++;
      fastEvents.push(`message ${isBinary} ${data.toString("hex")} ${Buffer.isBuffer(data)}`);
    });
  }
  else shortcutReceiver(fast);
  for (const chunk of chunks) {
    plain.write(Buffer.from(chunk));
    fast.write(Buffer.from(chunk));
  }
  await new Promise((resolve) => setImmediate(resolve));
  return { plain: plainEvents, shortcut: fastEvents, taken: chunks.length - handedOn, delivered };
}

function randomPayload(next: () => number, max: number): Buffer {
  const n = Math.floor(next() * (max + 1));
  const bytes = Buffer.alloc(n);
  for (let i = 0; i < n; i++) bytes[i] = Math.floor(next() * 256);
  return bytes;
}

/** A frame a client might send, mostly well-formed: binary and text, fragments, control frames, odd lengths, the odd protocol error. */
function randomFrame(next: () => number): Buffer {
  const mask = next() < 0.1 ? Buffer.alloc(4) : Buffer.from([next() * 256, next() * 256, next() * 256, next() * 256]);
  const r = next();
  const sizes = [0, 1, 3, 4, 5, 27, 125, 126, 127, 300, 65_535, 65_536, MAX_PAYLOAD, MAX_PAYLOAD + 1];
  const size = () => (next() < 0.7 ? Math.floor(next() * 140) : sizes[Math.floor(next() * sizes.length)]!);
  if (r < 0.45) return frame(0x82, randomPayload(next, size()), { mask });
  if (r < 0.5) return frame(0x82, randomPayload(next, 100), { mask, lengthBits: next() < 0.5 ? 16 : 64 }); // over-long length encodings ws accepts
  if (r < 0.55) return frame(0x81, Buffer.from("héllo".repeat(Math.floor(next() * 5))), { mask });
  if (r < 0.6) return frame(0x81, Buffer.from([0xff, 0xfe]), { mask }); // invalid UTF-8
  if (r < 0.68) return frame(next() < 0.5 ? 0x02 : 0x00, randomPayload(next, 40), { mask }); // a fragment start or continuation
  if (r < 0.72) return frame(0x80, randomPayload(next, 40), { mask }); // the last continuation
  if (r < 0.8) return frame(0x89, randomPayload(next, 20), { mask }); // ping
  if (r < 0.86) return frame(0x8a, randomPayload(next, 20), { mask }); // pong
  if (r < 0.88) return frame(0x88, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from("bye")]), { mask });
  if (r < 0.9) return frame(0x82, randomPayload(next, 20), { mask: null }); // unmasked: a protocol error from a client
  if (r < 0.92) return frame(0xc2, randomPayload(next, 20), { mask }); // RSV1 without an extension
  if (r < 0.94) return frame(0x83, randomPayload(next, 20), { mask }); // an unknown opcode
  if (r < 0.96) return frame(0x09, randomPayload(next, 5), { mask }); // a ping without FIN
  return frame(0x82, randomPayload(next, 20), { mask });
}

/** The frames' bytes cut into chunks: often on frame edges (the common case), sometimes anywhere. */
function randomChunks(next: () => number, frames: Buffer[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (const f of frames) {
    const r = next();
    if (r < 0.6 || f.length < 2) chunks.push(f);
    else if (r < 0.8 && chunks.length > 0) chunks[chunks.length - 1] = Buffer.concat([chunks.at(-1)!, f]); // two frames in one chunk
    else {
      const cut = 1 + Math.floor(next() * (f.length - 1));
      chunks.push(f.subarray(0, cut), f.subarray(cut));
    }
  }
  // Now and then, regroup everything at random points.
  if (next() < 0.3) {
    const all = Buffer.concat(chunks);
    const out: Buffer[] = [];
    for (let at = 0; at < all.length; ) {
      const n = 1 + Math.floor(next() * Math.min(200, all.length - at));
      out.push(all.subarray(at, at + n));
      at += n;
    }
    return out;
  }
  return chunks;
}

describe("whole binary frames taken from ws's Receiver", () => {
  it("gives the same message, as the same kind of Buffer, for one whole masked binary frame at each length encoding", async () => {
    for (const n of [1, 2, 3, 4, 5, 27, 125, 126, 65_535]) {
      for (const direct of [false, true]) {
        const payload = Buffer.alloc(n, 0).map((_, i) => (i * 7) & 0xff);
        const { plain, shortcut, taken, delivered } = await both([frame(0x82, Buffer.from(payload))], direct);
        expect(shortcut).toEqual(plain);
        expect(delivered).toBe(direct ? 1 : 0);
        expect(plain).toEqual([`message true ${Buffer.from(payload).toString("hex")} true`]);
        expect(taken, `payload ${n}`).toBe(1);
      }
    }
  });

  it("hands everything else to ws: text, control, fragmented, unmasked, 64-bit lengths, empty, over maxPayload, part of a frame, two frames", async () => {
    const cases: Buffer[][] = [
      [frame(0x81, Buffer.from("hi"))],
      [frame(0x89, Buffer.from("p"))],
      [frame(0x02, Buffer.from("a")), frame(0x80, Buffer.from("b"))],
      [frame(0x82, Buffer.from("x"), { mask: null })],
      [frame(0x82, Buffer.from("x"), { lengthBits: 64 })],
      [frame(0x82, Buffer.alloc(0))],
      [frame(0x82, Buffer.alloc(MAX_PAYLOAD + 1))],
      [frame(0x82, Buffer.from("abc")).subarray(0, 5)],
      [Buffer.concat([frame(0x82, Buffer.from("a")), frame(0x82, Buffer.from("b"))])],
    ];
    for (const chunks of cases) {
      const { plain, shortcut, taken } = await both(chunks);
      expect(shortcut).toEqual(plain);
      expect(taken).toBe(0);
    }
  });

  it("waits for ws to finish a frame it has begun, and takes none after a close frame", async () => {
    const split = frame(0x82, Buffer.from("abcdef"));
    const afterPart = await both([split.subarray(0, 3), split.subarray(3), frame(0x82, Buffer.from("next"))]);
    expect(afterPart.shortcut).toEqual(afterPart.plain);
    expect(afterPart.taken).toBe(1); // the frame after the split one, not the split one's rest
    const midFragments = await both([frame(0x02, Buffer.from("a")), frame(0x82, Buffer.from("b"))]);
    expect(midFragments.shortcut).toEqual(midFragments.plain);
    expect(midFragments.plain.at(-1)).toMatch(/^error WS_ERR_INVALID_OPCODE 1002/);
    expect(midFragments.taken).toBe(0);
    const afterClose = await both([frame(0x88, Buffer.from([0x03, 0xe8])), frame(0x82, Buffer.from("late"))]);
    expect(afterClose.shortcut).toEqual(afterClose.plain);
    expect(afterClose.taken).toBe(0);
  });

  it("behaves as ws does on 3,000 random streams: frames of every kind, split and joined at random points", async () => {
    const taken = { emitted: 0, direct: 0 };
    for (let seed = 1; seed <= 3_000; seed++) {
      const next = random(seed);
      const frames = Array.from({ length: 1 + Math.floor(next() * 12) }, () => randomFrame(next));
      // Odd seeds with the messages handed to a listener directly, even ones emitted as the Receiver's.
      const direct = seed % 2 === 1;
      const result = await both(randomChunks(next, frames), direct);
      expect(result.shortcut, `seed ${seed}`).toEqual(result.plain);
      // Handed directly, every message the shortcut takes goes to the listener and none through the Receiver's event.
      expect(result.delivered, `seed ${seed}`).toBe(direct ? result.taken : 0);
      taken[direct ? "direct" : "emitted"] += result.taken;
    }
    // The fuzz reaches the shortcut, not only ws, both ways.
    expect(taken.emitted).toBeGreaterThan(250);
    expect(taken.direct).toBeGreaterThan(250);
  });

  it.each([
    ["emitted by the Receiver", false],
    ["handed to the socket's listener directly", true],
  ])("serves a real ws client: messages, pings, pong and the close handshake, with the shortcut on the server's socket (messages %s)", async (_, direct) => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", maxPayload: MAX_PAYLOAD });
    const received: string[] = [];
    const serverClosed = new Promise<void>((resolve) => {
      wss.on("connection", (socket) => {
        socket.on("error", () => {}); // the oversized message below: ws closes with 1009 itself
        const onMessage = (data: ws.RawData, isBinary: boolean) => {
          received.push(`${isBinary} ${Buffer.from(data as Buffer).toString()}`);
          socket.send(data, { binary: isBinary });
        };
        socket.on("message", onMessage);
        if (direct) takeWholeBinaryFrames(socket, onMessage);
        else takeWholeBinaryFrames(socket);
        socket.on("close", () => resolve());
      });
    });
    await once(wss, "listening");
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    await once(client, "open");
    const echoes: string[] = [];
    client.on("message", (data) => echoes.push(Buffer.from(data as Buffer).toString()));
    const pong = once(client, "pong");
    client.ping("are you there");
    await pong;
    const messages = ["one", "x".repeat(300), "three"];
    for (const m of messages) client.send(Buffer.from(m));
    client.send("text too");
    await expect.poll(() => echoes.length).toBe(4);
    const clientClosed = once(client, "close");
    client.send(Buffer.alloc(MAX_PAYLOAD + 1));
    // ws's answer to a message over maxPayload: close with 1009.
    expect((await clientClosed)[0]).toBe(1009);
    await serverClosed;
    expect(received).toEqual([...messages.map((m) => `true ${m}`), "false text too"]);
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
});

/** A WebSocket server whose sockets' events are recorded; with `hook`, whole frames are read from the socket's shared buffer (as the gateway does). */
async function recordingServer(hook: boolean) {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", maxPayload: MAX_PAYLOAD });
  const events: string[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const push = (event: string) => {
    events.push(event);
    for (const w of waiters.filter((w) => events.length >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  let direct = 0;
  let hooked = false;
  let closed = false;
  let whenClosed!: () => void;
  const closing = new Promise<void>((resolve) => (whenClosed = resolve));
  let server: WebSocket | undefined;
  wss.on("connection", (socket) => {
    server = socket;
    const onMessage = (data: ws.RawData, isBinary: boolean) => push(`message ${isBinary} ${Buffer.from(data as Buffer).toString("hex")} ${Buffer.isBuffer(data)}`);
    socket.on("message", onMessage);
    socket.on("ping", (data) => push(`ping ${data.toString("hex")}`));
    socket.on("pong", (data) => push(`pong ${data.toString("hex")}`));
    socket.on("error", (err) => push(`error ${(err as { code?: string }).code}`));
    socket.on("close", (code, reason) => {
      closed = true;
      push(`close ${code} ${reason.toString("hex")}`);
      whenClosed();
    });
    if (hook) {
      takeWholeBinaryFrames(socket, (data, isBinary) => {
        direct++;
        onMessage(data, isBinary);
      });
      const raw = (socket as unknown as { _socket: object })._socket as Record<symbol, unknown>;
      hooked = raw[Object.getOwnPropertySymbols(raw).find((k) => k.description === "kBuffer")!] != null;
    }
  });
  await once(wss, "listening");
  return {
    port: (wss.address() as AddressInfo).port,
    events,
    /** Resolves once `n` events are recorded. */
    recorded: (n: number) => new Promise<void>((resolve) => (events.length >= n ? resolve() : waiters.push({ n, resolve }))),
    get direct() { return direct; },
    get hooked() { return hooked; },
    get closed() { return closed; },
    /** Resolves when the server's WebSocket has closed. */
    closing,
    get socket() { return server; },
    close: () => new Promise<void>((resolve) => wss.close(() => resolve())),
  };
}

/**
 * A raw TCP client that upgrades, then writes `chunks` one at a time (a turn
 * of the event loop apart, so most arrive as reads of their own) and a close
 * frame. With `inUpgrade`, the first chunk goes in the upgrade request's own
 * write (ws gets it as the upgrade's head, buffered in the socket before any read).
 */
async function writeRaw(port: number, chunks: Buffer[], inUpgrade = false): Promise<void> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {}); // the server may close first (a protocol error in the stream)
  socket.setNoDelay(true);
  await once(socket, "connect");
  const request = Buffer.from("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  socket.write(inUpgrade && chunks.length > 0 ? Buffer.concat([request, chunks[0]!]) : request);
  await once(socket, "data"); // 101
  for (const chunk of inUpgrade ? chunks.slice(1) : chunks) {
    if (socket.destroyed || socket.writableEnded) break;
    socket.write(chunk);
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (!socket.destroyed) socket.write(frame(0x88, Buffer.from([0x03, 0xe8])));
  await new Promise((resolve) => {
    socket.once("close", resolve);
    socket.end();
  });
}

describe("whole binary frames read from the socket's shared buffer", () => {
  it("delivers each whole frame from the read itself, every payload a Buffer of its own, and ws's own events as before", async () => {
    const server = await recordingServer(true);
    const client = new WebSocket(`ws://127.0.0.1:${server.port}`);
    await once(client, "open");
    expect(server.hooked).toBe(true);
    const sent: string[] = [];
    for (let i = 0; i < 300; i++) {
      // 1 to 400 bytes: 7- and 16-bit lengths; each waits for the one before, so each is a read of its own.
      const payload = Buffer.from(Buffer.alloc(1 + ((i * 37) % 400)).map((_, j) => (i + j * 13) & 0xff));
      sent.push(`message true ${payload.toString("hex")} true`);
      client.send(payload);
      await server.recorded(sent.length);
    }
    const pong = once(client, "pong");
    client.ping("p");
    await pong;
    client.close(1000, "done");
    await expect.poll(() => server.closed).toBe(true);
    // The payloads kept in `events` were read in turn into one shared buffer: each is still what was sent.
    expect(server.events).toEqual([...sent, `ping ${Buffer.from("p").toString("hex")}`, `close 1000 ${Buffer.from("done").toString("hex")}`]);
    expect(server.direct).toBeGreaterThan(250);
    await server.close();
  });

  it("keeps the order and every message while the socket is paused (backpressure) and after it resumes", async () => {
    const server = await recordingServer(true);
    const client = new WebSocket(`ws://127.0.0.1:${server.port}`);
    await once(client, "open");
    client.send(Buffer.from("first"));
    await expect.poll(() => server.events.length).toBe(1);
    server.socket!.pause();
    for (let i = 0; i < 50; i++) client.send(Buffer.from(`m${i}`));
    // Nothing is delivered while paused; all of it, in order, after.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.events.length).toBe(1);
    server.socket!.resume();
    await expect.poll(() => server.events.length).toBe(51);
    expect(server.events.slice(1)).toEqual(Array.from({ length: 50 }, (_, i) => `message true ${Buffer.from(`m${i}`).toString("hex")} true`));
    client.close();
    await expect.poll(() => server.closed).toBe(true);
    await server.close();
  });

  it("behaves as ws does on 150 random streams over a real socket: frames of every kind, split and joined at random points", async () => {
    let direct = 0;
    for (let seed = 1; seed <= 150; seed++) {
      const next = random(seed * 7919);
      const frames = Array.from({ length: 1 + Math.floor(next() * 12) }, () => randomFrame(next));
      const chunks = randomChunks(next, frames);
      const results: string[][] = [];
      for (const hook of [false, true]) {
        const server = await recordingServer(hook);
        await writeRaw(server.port, chunks, seed % 3 === 0);
        await server.closing;
        results.push(server.events);
        if (hook) direct += server.direct;
        await server.close();
      }
      expect(results[1], `seed ${seed}`).toEqual(results[0]);
    }
    // The fuzz reaches the socket path, not only ws (~50 frames arrive as reads of their own on a quiet machine).
    expect(direct).toBeGreaterThan(20);
  }, 120_000);
});
