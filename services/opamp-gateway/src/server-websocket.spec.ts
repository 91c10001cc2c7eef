import { EventEmitter, once } from "node:events";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import type { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import * as wsModule from "ws";
import { WebSocket, WebSocketServer } from "ws";
import { CLOSED, PAUSED_FOR_QUEUE, PAUSED_FOR_WRITES, ServerWebSocket, WebSocketProtocolError, closeReason, type ServerWebSocketEvents, type ServerWebSocketLimits } from "./server-websocket.js";
import { completeWebSocketHandshake } from "./websocket-handshake.js";
import { byteByByte, closedAfterEach, frame, random, randomChunks, randomFrame } from "./websocket-spec-support.js";

const MAX_PAYLOAD = 70_000;
/** ws's server defaults (websocket-server.js), which ServerWebSocket keeps. */
const WS_SERVER_RECEIVER = { isServer: true, maxPayload: MAX_PAYLOAD, maxFragments: 16 * 1024, maxBufferedChunks: 256 * 1024, allowSynchronousEvents: true };
/** Fresh seeds for a run: FUZZ_SEED_OFFSET=<n> shifts every seed of the fuzz. */
const SEED_OFFSET = Number(process.env.FUZZ_SEED_OFFSET ?? 0);

interface Receiver extends EventEmitter {
  write(chunk: Buffer): boolean;
  _writableState: { errored: Error | null };
}
const ReceiverClass = (wsModule as unknown as { Receiver: new (o: object) => Receiver }).Receiver;

/** The kind ServerWebSocket gives each of ws's error codes (the messages tell ws's two 1008 apart). */
function kindOfWsError(code: string, message: string): WebSocketProtocolError["kind"] | string {
  switch (code) {
    case "WS_ERR_UNEXPECTED_RSV_2_3":
    case "WS_ERR_UNEXPECTED_RSV_1":
    case "WS_ERR_INVALID_OPCODE":
    case "WS_ERR_EXPECTED_FIN":
    case "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH":
    case "WS_ERR_EXPECTED_MASK":
    case "WS_ERR_INVALID_CLOSE_CODE":
      return "protocol";
    case "WS_ERR_INVALID_UTF8":
      return "invalid-utf8";
    case "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH":
      return "message-too-large";
    case "WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH":
      return "length-unsupported";
    case "WS_ERR_TOO_MANY_BUFFERED_PARTS":
      return message === "Too many message fragments" ? "too-many-fragments" : "too-many-chunks";
    default:
      return `unknown ws error ${code}`;
  }
}

/**
 * What ws's server WebSocket does with `chunks`, from its Receiver's events,
 * written as what ServerWebSocket should do for the same bytes:
 * - `message`: the same message;
 * - `ping P`: a pong frame with P written (ws's auto-pong);
 * - `pong`: our pong event;
 * - `conclude C R`: the close frame echoed (C and R; empty for 1005), the socket ended, nothing read after;
 * - `error S`: a close frame with S written, the socket ended, our error with S and its kind.
 * Like ws's WebSocket, nothing more is fed to the Receiver after a close frame or an error.
 */
async function wsExpects(chunks: Buffer[]): Promise<string[]> {
  const receiver = new ReceiverClass(WS_SERVER_RECEIVER);
  const out: string[] = [];
  let concluded = false;
  receiver.on("message", (data: Buffer, isBinary: boolean) => out.push(`message ${isBinary} ${data.toString("hex")}`));
  receiver.on("ping", (data: Buffer) => out.push(`pong-frame ${data.toString("hex")}`.trimEnd()));
  receiver.on("pong", () => out.push("pong"));
  receiver.on("conclude", (code: number, reason: Buffer) => {
    concluded = true;
    const payload = code === 1005 ? "" : Buffer.concat([u16(code), reason]).toString("hex");
    out.push(`close-frame ${payload}`.trimEnd(), "end");
  });
  receiver.on("error", (err: Error & { code: string }) => {
    const status = (err as unknown as Record<symbol, number>)[Object.getOwnPropertySymbols(err).find((s) => s.description === "status-code")!]!;
    out.push(`close-frame ${u16(status).toString("hex")}`, "end", `error ${status} ${kindOfWsError(err.code, err.message)} ${err.message.replace(/^Invalid WebSocket frame: /, "")}`);
  });
  for (const chunk of chunks) {
    if (concluded || receiver._writableState.errored) break;
    receiver.write(Buffer.from(chunk));
  }
  // ws emits a Receiver's error on a later tick.
  await new Promise((resolve) => setImmediate(resolve));
  out.push("close");
  return out;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/**
 * A socket that records what is written to it (each frame decoded), and its
 * end() and destroy() calls, in one list with the WebSocket's events. Data is
 * given with `feed` (the 'data' event, as a socket emits it).
 */
class RecordingSocket extends EventEmitter {
  readonly log: string[] = [];
  readableLength = 0;
  readableEnded = false;
  /** Write callbacks held back (a socket whose peer reads nothing), when `holdWrites`. */
  readonly held: Array<() => void> = [];
  holdWrites = false;
  paused = false;

  write(data: Buffer | string, cb?: () => void): boolean {
    this.log.push(describeWrite(Buffer.from(data)));
    if (cb) {
      if (this.holdWrites) this.held.push(cb);
      else cb();
    }
    return true;
  }
  end(): this {
    this.log.push("end");
    return this;
  }
  destroy(): this {
    this.log.push("destroy");
    return this;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  read(): null {
    return null;
  }
  feed(chunks: Buffer[]): void {
    // Copies: ServerWebSocket unmasks in place, as ws's Receiver does.
    for (const chunk of chunks) this.emit("data", Buffer.from(chunk));
  }
}

/** A server frame in the log's words: `pong-frame P`, `close-frame P`, `ping-frame`, or the raw bytes when it is none of them. */
function describeWrite(b: Buffer): string {
  const kinds: Record<number, string> = { 0x8a: "pong-frame", 0x88: "close-frame", 0x89: "ping-frame" };
  const kind = kinds[b[0]!];
  if (kind !== undefined && b.length >= 2 && b[1]! < 126 && b.length === 2 + b[1]!) return `${kind} ${b.subarray(2).toString("hex")}`.trimEnd();
  return `write ${b.toString("hex")}`;
}

/** The events object every ServerWebSocket of a spec reports to; each socket's events go to its RecordingSocket's log (or a real socket's list). */
function recordingEvents(logOf: (ws: ServerWebSocket<string[]>) => string[]): ServerWebSocketEvents<string[]> {
  return {
    message: (ws, data, isBinary) => logOf(ws).push(`message ${isBinary} ${data.toString("hex")}`),
    pong: (ws) => logOf(ws).push("pong"),
    error: (ws, err) => logOf(ws).push(`error ${err.closeCode} ${err.kind} ${err.message}`),
    stalled: (ws, unsentBytes) => logOf(ws).push(`stalled ${unsentBytes}`),
    close: (ws) => logOf(ws).push("close"),
  };
}

const fakeEvents = recordingEvents((ws) => (ws.socket as unknown as RecordingSocket).log);

function fakeWebSocket(limits: ServerWebSocketLimits = { maxPayload: MAX_PAYLOAD, closeTimeoutMs: 30_000, maxUnsentBytes: 0 }): { socket: RecordingSocket; ws: ServerWebSocket<string[]> } {
  const socket = new RecordingSocket();
  const ws = new ServerWebSocket<string[]>(socket as unknown as Duplex, limits, fakeEvents);
  return { socket, ws };
}

/** What ServerWebSocket does with `chunks`; then its socket closes (which also clears the close timer). */
function oursDoes(chunks: Buffer[]): string[] {
  const { socket } = fakeWebSocket();
  socket.feed(chunks);
  socket.emit("close");
  return socket.log;
}

/** `count` random streams of 1 to 14 frames from seeds first.., each cut three ways: at random, as one chunk, byte by byte. */
async function fuzz(first: number, count: number, cuts: Array<"random" | "whole" | "bytes">): Promise<{ messages: number; errors: number; closes: number }> {
  const seen = { messages: 0, errors: 0, closes: 0 };
  for (let seed = first; seed < first + count; seed++) {
    const next = random(seed);
    const frames = Array.from({ length: 1 + Math.floor(next() * 14) }, () => randomFrame(next, { maxPayload: MAX_PAYLOAD }));
    const bytes = Buffer.concat(frames);
    for (const cut of cuts) {
      // Byte by byte only up to 20 KB: ws's Receiver joins a frame of n one-byte chunks in O(n²).
      if (cut === "bytes" && bytes.length > 20_000) continue;
      const chunks = cut === "random" ? randomChunks(next, frames) : cut === "whole" ? [bytes] : byteByByte(bytes);
      const expected = await wsExpects(chunks);
      const got = oursDoes(chunks);
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        expect(got, `seed ${seed} cut ${cut}: bytes ${bytes.toString("hex").slice(0, 2000)}`).toEqual(expected);
      }
      seen.messages += expected.filter((e) => e.startsWith("message")).length;
      seen.errors += expected.filter((e) => e.startsWith("error")).length;
      seen.closes += expected.filter((e) => e.startsWith("close-frame") && !expected.some((x) => x.startsWith("error"))).length;
    }
  }
  return seen;
}

describe("ServerWebSocket reads frames as ws's server does (differential fuzz against ws's Receiver)", () => {
  it(`answers 5,000 random streams cut at random points as ws does: messages, pongs, close echoes, errors and their close codes (seed offset ${SEED_OFFSET})`, async () => {
    const seen = await fuzz(1 + SEED_OFFSET, 5_000, ["random"]);
    // The fuzz reaches every outcome, not only the first protocol error.
    expect(seen.messages).toBeGreaterThan(2_000);
    expect(seen.errors).toBeGreaterThan(500);
    expect(seen.closes).toBeGreaterThan(100);
  }, 120_000);

  it("answers the same streams as ws does when each arrives as one chunk", async () => {
    await fuzz(1 + SEED_OFFSET, 5_000, ["whole"]);
  }, 120_000);

  it("answers the 2,000 streams (those up to 20 KB) as ws does when they arrive byte by byte", async () => {
    await fuzz(1 + SEED_OFFSET, 2_000, ["bytes"]);
  }, 240_000);

  it("answers each kind of frame as ws does (the cases the fuzz must not miss)", async () => {
    const mask = Buffer.from([1, 2, 3, 4]);
    const cases: Buffer[][] = [
      [frame(0x82, Buffer.from("abc"))],
      [frame(0x81, Buffer.from("héllo"))],
      [frame(0x81, Buffer.from([0xed, 0xa0, 0x80]))], // a surrogate: invalid UTF-8
      [frame(0x01, Buffer.from([0xe2, 0x82])), frame(0x89, Buffer.from("p")), frame(0x80, Buffer.from([0xac]))], // "€" across fragments, a ping between
      [frame(0x02, Buffer.from("a")), frame(0x82, Buffer.from("b"))], // a new message inside a fragmented one
      [frame(0x80, Buffer.from("a"))], // a continuation with nothing to continue
      [frame(0x89, Buffer.alloc(125, 7), { mask })],
      [frame(0x8a, Buffer.from("pong payload"))],
      [frame(0x88, Buffer.alloc(0)), frame(0x82, Buffer.from("after"))],
      [frame(0x88, Buffer.concat([u16(4000), Buffer.from("bye")])), frame(0x89, Buffer.from("after"))],
      [frame(0x88, Buffer.concat([u16(1000), Buffer.from([0xff])]))],
      [frame(0x88, u16(1005))],
      [frame(0x88, u16(2999))],
      [frame(0x88, Buffer.from([3]))],
      [frame(0x82, Buffer.from("x"), { mask: null })],
      [frame(0xc2, Buffer.from("x"))],
      [frame(0xa2, Buffer.from("x"))],
      [frame(0x83, Buffer.from("x"))],
      [frame(0x09, Buffer.from("x"))],
      [frame(0x89, Buffer.alloc(126))],
      [frame(0x82, Buffer.alloc(0))],
      [frame(0x82, Buffer.alloc(MAX_PAYLOAD, 1))],
      [frame(0x82, Buffer.alloc(8), { claimedLength: BigInt(MAX_PAYLOAD + 1) })],
      [frame(0x82, Buffer.alloc(8), { claimedLength: 1n << 53n })],
      [frame(0x82, Buffer.alloc(8), { claimedLength: (1n << 53n) - 1n })],
      [frame(0x02, Buffer.alloc(MAX_PAYLOAD - 10, 1)), frame(0x80, Buffer.alloc(11, 2))], // the message, not the frame, is over maxPayload
      [frame(0x02, Buffer.alloc(MAX_PAYLOAD - 10, 1)), frame(0x80, Buffer.alloc(10, 2))],
      [frame(0x82, Buffer.from("x"), { lengthBits: 64 })],
    ];
    for (const chunks of cases) {
      const bytes = Buffer.concat(chunks);
      // Byte by byte only for the small ones: ws's Receiver joins a frame of n one-byte chunks in O(n²).
      for (const cut of [chunks, [bytes], ...(bytes.length < 1_000 ? [byteByByte(bytes)] : [])]) {
        expect(oursDoes(cut), Buffer.concat(chunks).toString("hex").slice(0, 200)).toEqual(await wsExpects(cut));
      }
    }
  });

  it("refuses a message of more than 16,384 fragments with 1008, as ws does", async () => {
    const fragments = [frame(0x02, Buffer.from("a")), ...Array.from({ length: 16_384 }, () => frame(0x00, Buffer.alloc(0))), frame(0x80, Buffer.from("z"))];
    const expected = await wsExpects([Buffer.concat(fragments)]);
    expect(expected.at(-2)).toBe("error 1008 too-many-fragments Too many message fragments");
    expect(oursDoes([Buffer.concat(fragments)])).toEqual(expected);
    // One fewer is a message.
    const fewer = [frame(0x02, Buffer.from("a")), ...Array.from({ length: 16_382 }, () => frame(0x00, Buffer.alloc(0))), frame(0x80, Buffer.from("z"))];
    expect(oursDoes([Buffer.concat(fewer)])).toEqual(await wsExpects([Buffer.concat(fewer)]));
    expect(oursDoes([Buffer.concat(fewer)])[0]).toBe(`message true ${Buffer.from("az").toString("hex")}`);
  });

  it.each([262_139, 262_140, 262_145])("counts a frame that arrives in many one-byte reads (%i payload bytes) against ws's 262,144 buffered chunks as ws does", async (n) => {
    const bytes = frame(0x82, Buffer.alloc(n, 0x61), { mask: Buffer.alloc(4) });
    const receiver = new ReceiverClass({ ...WS_SERVER_RECEIVER, maxPayload: 0 });
    const { socket } = fakeWebSocket({ maxPayload: 0, closeTimeoutMs: 30_000, maxUnsentBytes: 0 });
    // Compared by outcome (a message or an error), not by a log of a quarter of a MiB in hex.
    const wsOutcome: string[] = [];
    receiver.on("message", (data: Buffer) => wsOutcome.push(`message ${data.length}`));
    receiver.on("error", (err: Error) => wsOutcome.push(`error ${err.message}`));
    for (let i = 0; i < bytes.length && !receiver._writableState.errored; i++) receiver.write(bytes.subarray(i, i + 1));
    await new Promise((resolve) => setImmediate(resolve));
    socket.feed(byteByByte(bytes));
    const ours = socket.log.map((e) => (e.startsWith("message") ? `message ${(e.length - "message true ".length) / 2}` : e.startsWith("error") ? `error ${e.split(" ").slice(3).join(" ")}` : e));
    expect(ours.filter((e) => e.startsWith("message") || e.startsWith("error"))).toEqual(wsOutcome);
  }, 180_000);

  it("answers pings while open with a pong each, and drops a peer with 60 pongs unwritten at its 61st ping (ws's maxPendingAutoPongs)", () => {
    const { socket } = fakeWebSocket();
    socket.holdWrites = true;
    socket.feed(Array.from({ length: 61 }, (_, i) => frame(0x89, Buffer.from([i]))));
    expect(socket.log.filter((e) => e.startsWith("pong-frame"))).toHaveLength(60);
    expect(socket.log.at(-1)).toBe("destroy");
    // Pongs written out free their places: a peer that reads them may ping on.
    const { socket: reading } = fakeWebSocket();
    reading.feed(Array.from({ length: 200 }, (_, i) => frame(0x89, Buffer.from([i & 0xff]))));
    expect(reading.log.filter((e) => e.startsWith("pong-frame"))).toHaveLength(200);
    expect(reading.log).not.toContain("destroy");
  });
});

/**
 * A socket for the whole-WebSocket comparison: writes in order as one hex
 * run (ws writes a frame's head and payload apart, we write a frame at
 * once: the bytes are what counts), end() and destroy(), and the events.
 * It has what ws's WebSocket reads of a socket.
 */
class ByteSocket extends RecordingSocket {
  readonly _readableState = { endEmitted: false, length: 0 };
  readable = true;
  writable = true;
  destroyed = false;
  override write(data: Buffer | string, cb?: () => void): boolean {
    const hex = Buffer.from(data).toString("hex");
    const last = this.log.length - 1;
    if (last >= 0 && this.log[last]!.startsWith("bytes ")) this.log[last] += hex;
    else this.log.push(`bytes ${hex}`);
    cb?.();
    return true;
  }
  cork(): void {}
  uncork(): void {}
  unshift(): void {}
}

/** What the server does between the peer's chunks: nothing mostly, now and then a close (with or without a code), a ping or a terminate. */
type ServerAction = { kind: "close"; code?: number; reason?: string } | { kind: "ping" } | { kind: "terminate" } | undefined;

function randomAction(next: () => number): ServerAction {
  const r = next();
  if (r < 0.85) return undefined;
  if (r < 0.93) {
    const k = next();
    return k < 0.2 ? { kind: "close" } : { kind: "close", code: [1000, 1001, 1011, 4000][Math.floor(next() * 4)]!, reason: k < 0.6 ? "" : "server shutting down" };
  }
  if (r < 0.98) return { kind: "ping" };
  return { kind: "terminate" };
}

/**
 * ws's server WebSocket (as its WebSocketServer makes one: autoPong, 60
 * pending pongs, its receiver limits) and ServerWebSocket, each on a
 * ByteSocket, given the same chunks a turn of the event loop apart and the
 * same server actions between them; then the peer's end (sometimes) and the
 * socket's close. Their logs: bytes written, end/destroy, message, pong, error
 * with its close code, close.
 */
async function bothWebSockets(chunks: Buffer[], actions: ServerAction[], peerEnds: boolean): Promise<{ ws: string[]; ours: string[] }> {
  const theirSocket = new ByteSocket();
  const theirs = new (WebSocket as unknown as new (a: null, p: undefined, o: object) => WebSocket & { setSocket(s: unknown, h: Buffer, o: object): void })(null, undefined, { autoPong: true, maxPendingAutoPongs: 60, closeTimeout: 30_000 });
  theirs.setSocket(theirSocket, Buffer.alloc(0), { allowSynchronousEvents: true, maxBufferedChunks: 256 * 1024, maxFragments: 16 * 1024, maxPayload: MAX_PAYLOAD, skipUTF8Validation: false });
  theirs.on("message", (data: Buffer, isBinary: boolean) => theirSocket.log.push(`message ${isBinary} ${data.toString("hex")}`));
  theirs.on("pong", () => theirSocket.log.push("pong"));
  theirs.on("error", (err: Error) => theirSocket.log.push(`error ${(err as unknown as Record<symbol, number>)[Object.getOwnPropertySymbols(err).find((k) => k.description === "status-code")!]}`));
  theirs.on("close", () => theirSocket.log.push("close"));
  const ourSocket = new ByteSocket();
  const ours = new ServerWebSocket<string[]>(ourSocket as unknown as Duplex, { maxPayload: MAX_PAYLOAD, closeTimeoutMs: 30_000, maxUnsentBytes: 0 }, {
    ...fakeEvents,
    error: (ws, err) => (ws.socket as unknown as ByteSocket).log.push(`error ${err.closeCode}`),
  });
  let terminated = false;
  for (let i = 0; i < chunks.length && !terminated; i++) {
    theirSocket.feed([chunks[i]!]);
    ourSocket.feed([chunks[i]!]);
    // A server action never runs in the same turn as a read (a timer, another socket's message): ws's errors, emitted on the next tick, come first.
    await new Promise((resolve) => setImmediate(resolve));
    const action = actions[i];
    if (action?.kind === "close") {
      theirs.close(action.code, action.reason);
      ours.close(action.code, action.reason);
    } else if (action?.kind === "ping") {
      theirs.ping();
      ours.ping();
    } else if (action?.kind === "terminate") {
      theirs.terminate();
      ours.terminate();
      // A destroyed socket reads nothing more.
      terminated = true;
    }
  }
  for (const socket of [theirSocket, ourSocket]) {
    if (peerEnds && !terminated) {
      socket._readableState.endEmitted = true;
      socket.readableEnded = true;
      socket.emit("end");
    }
    socket.emit("close");
  }
  // ws emits its close once its Receiver has finished (a later tick).
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  return { ws: theirSocket.log, ours: ourSocket.log };
}

describe("ServerWebSocket as a whole behaves as ws's server WebSocket (differential fuzz, server actions included)", () => {
  it("writes the same bytes, ends and destroys its socket and emits the same events as ws's WebSocket on 3,000 random streams with random closes, pings and terminates between reads", async () => {
    let closesOfOurs = 0;
    for (let seed = 1 + SEED_OFFSET; seed <= 3_000 + SEED_OFFSET; seed++) {
      const next = random(seed * 31 + 7);
      const frames = Array.from({ length: 1 + Math.floor(next() * 14) }, () => randomFrame(next, { maxPayload: MAX_PAYLOAD }));
      const chunks = randomChunks(next, frames);
      const actions = chunks.map(() => randomAction(next));
      closesOfOurs += actions.filter((a) => a?.kind === "close").length;
      const { ws, ours } = await bothWebSockets(chunks, actions, next() < 0.5);
      if (JSON.stringify(ours) !== JSON.stringify(ws)) {
        expect(ours, `seed ${seed}: actions ${JSON.stringify(actions)} bytes ${Buffer.concat(frames).toString("hex").slice(0, 2000)}`).toEqual(ws);
      }
    }
    expect(closesOfOurs).toBeGreaterThan(500);
  }, 120_000);
});

describe("what a ServerWebSocket keeps of what it reads", () => {
  it("keeps a small fragment's bytes, not the whole read it came in (a read padded with pongs)", () => {
    const { socket, ws } = fakeWebSocket();
    // One read of ~64 KiB: a 1-byte first fragment (binary, FIN clear), then 500 pongs of 125 bytes, which cost the peer nothing.
    const read = Buffer.concat([frame(0x02, Buffer.from("a")), ...Array.from({ length: 500 }, () => frame(0x8a, Buffer.alloc(125, 7)))]);
    socket.emit("data", read);
    const fragments = (ws as unknown as { fragments: Buffer[] }).fragments;
    expect(fragments.map((f) => f.toString())).toEqual(["a"]);
    expect(fragments[0]!.buffer.byteLength, "a copy, not a view of the read").toBeLessThan(read.length / 2);
    socket.emit("data", frame(0x80, Buffer.from("b")));
    expect(socket.log.filter((e) => e.startsWith("message"))).toEqual([`message true ${Buffer.from("ab").toString("hex")}`]);
  });

  it("keeps the start of a frame that has not fully arrived as its own bytes, not the read before it", () => {
    const { socket, ws } = fakeWebSocket();
    const next = frame(0x82, Buffer.alloc(300, 1));
    const read = Buffer.concat([...Array.from({ length: 500 }, () => frame(0x8a, Buffer.alloc(125, 7))), next.subarray(0, 10)]);
    socket.emit("data", read);
    const partial = (ws as unknown as { partial: Buffer[] }).partial;
    expect(partial).toHaveLength(1);
    expect(partial[0]!.buffer.byteLength).toBeLessThan(read.length / 2);
    socket.emit("data", next.subarray(10));
    expect(socket.log.filter((e) => e.startsWith("message"))).toEqual([`message true ${Buffer.alloc(300, 1).toString("hex")}`]);
  });
});

describe("closeReason", () => {
  it("cuts a reason to the 123 bytes a close frame holds, at a character's end, and leaves a shorter one as it is", () => {
    expect(closeReason("x".repeat(123))).toBe("x".repeat(123));
    expect(closeReason("é".repeat(61))).toBe("é".repeat(61));
    expect(closeReason("é".repeat(100))).toBe("é".repeat(61)); // 122 bytes; a 62nd would make 124
    expect(closeReason("a" + "😀".repeat(40))).toBe("a" + "😀".repeat(30)); // 1 + 4 × 30 = 121; a 31st would make 125
    const { socket, ws } = fakeWebSocket();
    ws.close(1008, closeReason("refusé: " + "é".repeat(100)));
    expect(Buffer.from(socket.log[0]!.split(" ")[1]!, "hex").length).toBeLessThanOrEqual(125);
  });
});

describe("ServerWebSocket's close() and terminate()", () => {
  it("throws TypeError for a code a close frame may not carry and RangeError for a reason over 123 bytes, writing nothing", () => {
    const { socket, ws } = fakeWebSocket();
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 2999, 5000]) expect(() => ws.close(code), `code ${code}`).toThrow(TypeError);
    expect(() => ws.close(1000, "x".repeat(124))).toThrow(RangeError);
    expect(() => ws.close(1000, "é".repeat(62))).toThrow(RangeError); // 124 bytes in UTF-8
    expect(socket.log).toEqual([]);
    ws.close(1000, "x".repeat(123));
    expect(socket.log).toEqual([`close-frame ${Buffer.concat([u16(1000), Buffer.from("x".repeat(123))]).toString("hex")}`]);
  });

  it("sends one close frame (none again while closing) and ends the socket once the peer's close frame comes", () => {
    const { socket, ws } = fakeWebSocket();
    ws.close(1001, "server shutting down");
    ws.close(1000);
    ws.ping();
    expect(socket.log).toEqual([`close-frame ${Buffer.concat([u16(1001), Buffer.from("server shutting down")]).toString("hex")}`]);
    // The peer's answer, then a message it should not have sent: the close is not echoed again and nothing more is read.
    socket.feed([frame(0x88, u16(1001)), frame(0x82, Buffer.from("late"))]);
    expect(socket.log.slice(1)).toEqual(["end"]);
    socket.emit("close");
    expect(socket.log.slice(1)).toEqual(["end", "close"]);
    expect(ws.readyState).toBe(CLOSED);
  });

  it("writes nothing once closed: ping, close and terminate are no-ops", () => {
    const { socket, ws } = fakeWebSocket();
    socket.emit("close");
    ws.ping();
    ws.close(1000, "late");
    ws.terminate();
    socket.feed([frame(0x89, Buffer.from("p"))]);
    expect(socket.log).toEqual(["close"]);
  });
});

// ---------------------------------------------------------------------------
// Over real sockets: an http server whose upgrades go through completeWebSocketHandshake.

interface RealServer {
  port: number;
  /** The server side of each connection, in order. */
  sockets: Array<ServerWebSocket<string[]>>;
  /** Each connection's events (message, pong, error, close), in order. */
  logs: string[][];
  /** Messages echoed back (binary as binary). */
  echo: boolean;
}

const { servers, upgraded } = closedAfterEach();

interface TlsPair {
  key: Buffer;
  cert: Buffer;
}

/** A self-signed pair for 127.0.0.1 (openssl, as the TLS tests under test/ make theirs). */
function tlsPair(): TlsPair {
  const dir = mkdtempSync(join(tmpdir(), "server-websocket-tls-"));
  try {
    const [keyFile, certFile] = [join(dir, "tls.key"), join(dir, "tls.crt")];
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=opamp.test", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", keyFile, "-out", certFile], { stdio: "ignore" });
    return { key: readFileSync(keyFile), cert: readFileSync(certFile) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function realServer(limits: ServerWebSocketLimits = { maxPayload: 1024, closeTimeoutMs: 30_000, maxUnsentBytes: 0 }, pair?: TlsPair): Promise<RealServer> {
  const refuser = new WebSocketServer({ noServer: true, maxPayload: limits.maxPayload, perMessageDeflate: false, clientTracking: false });
  const state: RealServer = { port: 0, sockets: [], logs: [], echo: true };
  const events = recordingEvents((ws) => ws.owner!);
  const message = events.message;
  events.message = (ws, data, isBinary) => {
    message(ws, data, isBinary);
    if (state.echo && ws.readyState === 1) ws.socket.write(Buffer.concat([Buffer.from([isBinary ? 0x82 : 0x81, data.length]), data]));
  };
  const server = (pair ? https.createServer(pair, (_req, res) => res.end()) : http.createServer((_req, res) => res.end())) as http.Server;
  server.on("upgrade", (req, socket, head) => {
    const ws = completeWebSocketHandshake<string[]>(refuser, req, socket, head, limits, events);
    if (ws === undefined) return;
    ws.owner = [];
    upgraded.push(socket);
    state.sockets.push(ws);
    state.logs.push(ws.owner);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}

async function connectClient(port: number): Promise<WebSocket> {
  const client = new WebSocket(`ws://127.0.0.1:${port}/v1/opamp`);
  client.on("error", () => {}); // a close the test provokes (1009, 1006) is what it reads
  await once(client, "open");
  return client;
}

/** A raw TCP client after a completed upgrade: it reads nothing it is sent unless asked, and answers nothing. */
async function rawClient(port: number, overTls = false): Promise<{ socket: net.Socket; received: () => Buffer; closed: Promise<void> }> {
  const socket = overTls ? tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false }) : net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  await once(socket, overTls ? "secureConnect" : "connect");
  socket.write("GET /v1/opamp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  const parts: Buffer[] = [];
  socket.on("data", (d: Buffer) => parts.push(d));
  const closed = once(socket, "close").then(() => undefined);
  await expect.poll(() => Buffer.concat(parts).includes("\r\n\r\n")).toBe(true);
  const headEnd = Buffer.concat(parts).indexOf("\r\n\r\n") + 4;
  return { socket, received: () => Buffer.concat(parts).subarray(headEnd), closed };
}

/** Two turns of the event loop: any read the socket was free to make in between has been made. */
async function loopTurns(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("ServerWebSocket over a real socket", () => {
  it("answers a ws client's ping with a pong of its payload and echoes messages", async () => {
    const server = await realServer();
    const client = await connectClient(server.port);
    const pong = once(client, "pong");
    client.ping(Buffer.from("are you there"));
    expect(((await pong)[0] as Buffer).toString()).toBe("are you there");
    const echoed = once(client, "message");
    client.send(Buffer.from([1, 2, 3]));
    expect([...((await echoed)[0] as Buffer)]).toEqual([1, 2, 3]);
    expect(server.logs[0]).toEqual(["message true 010203"]);
  });

  it("echoes the client's close (4000 \"bye\"), ends the connection and emits close once", async () => {
    const server = await realServer();
    const client = await connectClient(server.port);
    const closed = once(client, "close");
    client.close(4000, "bye");
    const [code, reason] = await closed;
    expect([code, (reason as Buffer).toString()]).toEqual([4000, "bye"]);
    await expect.poll(() => server.logs[0]).toEqual(["close"]);
    expect(server.sockets[0]!.readyState).toBe(CLOSED);
  });

  it("closes with close(1001, \"server shutting down\"): the client sees 1001 and that reason", async () => {
    const server = await realServer();
    const client = await connectClient(server.port);
    const closed = once(client, "close");
    server.sockets[0]!.close(1001, "server shutting down");
    const [code, reason] = await closed;
    expect([code, (reason as Buffer).toString()]).toEqual([1001, "server shutting down"]);
    await expect.poll(() => server.logs[0]).toEqual(["close"]);
  });

  it("destroys the socket closeTimeoutMs after its close frame when the peer never answers", async () => {
    const server = await realServer({ maxPayload: 1024, closeTimeoutMs: 200, maxUnsentBytes: 0 });
    const client = await rawClient(server.port);
    await expect.poll(() => server.sockets.length).toBe(1);
    const started = Date.now();
    server.sockets[0]!.close(1000, "bye");
    await expect.poll(() => client.received().toString("hex")).toBe(`8805${u16(1000).toString("hex")}${Buffer.from("bye").toString("hex")}`);
    // Not ended at once: the peer may still answer.
    expect(server.logs[0]).toEqual([]);
    await expect.poll(() => server.logs[0], { timeout: 5_000 }).toEqual(["close"]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await client.closed;
  });

  it("terminate() drops the connection without a close frame (the client sees 1006)", async () => {
    const server = await realServer();
    const client = await connectClient(server.port);
    const closed = once(client, "close");
    server.sockets[0]!.terminate();
    expect((await closed)[0]).toBe(1006);
    await expect.poll(() => server.logs[0]).toEqual(["close"]);
  });

  it("closes with 1009 and emits error message-too-large for a frame over maxPayload", async () => {
    const server = await realServer({ maxPayload: 100, closeTimeoutMs: 30_000, maxUnsentBytes: 0 });
    const client = await connectClient(server.port);
    const closed = once(client, "close");
    client.send(Buffer.alloc(101));
    expect((await closed)[0]).toBe(1009);
    await expect.poll(() => server.logs[0]).toEqual(["error 1009 message-too-large Max payload size exceeded", "close"]);
  });

  it("emits close when the peer ends its side without a close frame (the ws client sees 1006)", async () => {
    const server = await realServer();
    const client = await connectClient(server.port);
    const closed = once(client, "close");
    (client as unknown as { _socket: net.Socket })._socket.end();
    expect((await closed)[0]).toBe(1006);
    await expect.poll(() => server.logs[0]).toEqual(["close"]);
  });

  it("delivers nothing while paused and every message, in order, after resume()", async () => {
    const server = await realServer();
    server.echo = false;
    const client = await connectClient(server.port);
    client.send(Buffer.from("first"));
    await expect.poll(() => server.logs[0]).toEqual([`message true ${Buffer.from("first").toString("hex")}`]);
    const ws = server.sockets[0]!;
    ws.pause(PAUSED_FOR_QUEUE);
    expect(ws.pausedFor).toBe(PAUSED_FOR_QUEUE);
    const sent = Array.from({ length: 50 }, (_, i) => Buffer.from(`m${i}`));
    await Promise.all(sent.map((m) => new Promise<void>((resolve, reject) => client.send(m, (err) => (err ? reject(err) : resolve())))));
    // The messages are in the server's socket buffer (loopback): a reading socket would have taken them by now.
    await loopTurns();
    await loopTurns();
    expect(server.logs[0]).toHaveLength(1);
    ws.resume(PAUSED_FOR_QUEUE);
    await expect.poll(() => server.logs[0]!.length).toBe(51);
    expect(server.logs[0]!.slice(1)).toEqual(sent.map((m) => `message true ${m.toString("hex")}`));
  });

  it("stops reading while its writes wait unsent, reads again once they drained, and keeps a pause of the caller's own until the caller lifts it", async () => {
    const server = await realServer();
    server.echo = false;
    const client = await rawClient(server.port);
    client.socket.pause(); // reads nothing of ours from now on
    const ws = server.sockets[0]!;
    const bulk = Buffer.concat([Buffer.from([0x82, 127]), Buffer.alloc(8), Buffer.alloc(1 << 20)]);
    bulk.writeBigUInt64BE(BigInt(1 << 20), 2);
    // Loopback takes a few MiB into the kernel's buffers before Node holds any.
    for (let i = 0; i < 256 && ws.pausedFor === 0; i++) ws.write(bulk);
    expect(ws.pausedFor).toBe(PAUSED_FOR_WRITES);
    client.socket.write(frame(0x82, Buffer.from("held")));
    await loopTurns();
    expect(server.logs[0]).toEqual([]);
    ws.pause(PAUSED_FOR_QUEUE);
    client.socket.resume(); // reads it all: our writes drain
    await expect.poll(() => ws.pausedFor, { timeout: 10_000 }).toBe(PAUSED_FOR_QUEUE);
    await loopTurns();
    expect(server.logs[0], "the drain does not lift the caller's pause").toEqual([]);
    ws.resume(PAUSED_FOR_QUEUE);
    await expect.poll(() => server.logs[0]).toEqual([`message true ${Buffer.from("held").toString("hex")}`]);
    expect(ws.readyState).toBe(1);
  });

  for (const overTls of [false, true]) {
    it(`tells a peer that takes our writes slowly from one that takes none, one look's grace per pause (${overTls ? "TLS" : "TCP"})`, async () => {
      const server = await realServer(undefined, overTls ? tlsPair() : undefined);
      server.echo = false;
      const client = await rawClient(server.port, overTls);
      client.socket.pause();
      const ws = server.sockets[0]!;
      const size = 32 << 20; // one frame, far more than loopback's kernel buffers take
      const bulk = Buffer.concat([Buffer.from([0x82, 127]), Buffer.alloc(8), Buffer.alloc(size)]);
      bulk.writeBigUInt64BE(BigInt(size), 2);
      expect(ws.tookWritesSinceLastLook(), "not paused for writes").toBe(false);
      ws.write(bulk);
      expect(ws.pausedFor).toBe(PAUSED_FOR_WRITES);
      expect(ws.tookWritesSinceLastLook(), "a pause's first look: nothing to compare with").toBe(true);
      const before = ws.unsent();
      let taken = 0;
      let wanted = 4 << 20;
      client.socket.on("data", (chunk: Buffer) => {
        taken += chunk.length;
        if (taken >= wanted) client.socket.pause();
      });
      client.socket.resume();
      await expect.poll(() => taken, { timeout: 10_000 }).toBeGreaterThanOrEqual(wanted);
      // The one frame is still being written, so the stream's count has not moved: only the TCP handle's shows it.
      await expect.poll(() => ws.unsent().queued, { timeout: 10_000 }).toBeLessThan(before.queued);
      expect(ws.unsent().buffered).toBe(before.buffered);
      expect(ws.tookWritesSinceLastLook(), "the peer took some").toBe(true);
      expect(ws.tookWritesSinceLastLook(), "and nothing since the last look").toBe(false);
      // It takes the rest: drained, no longer paused; the next pause starts its own comparison.
      wanted = Infinity;
      client.socket.resume();
      await expect.poll(() => ws.pausedFor, { timeout: 20_000 }).toBe(0);
      await expect.poll(() => taken, { timeout: 20_000 }).toBeGreaterThanOrEqual(size);
      client.socket.pause();
      ws.write(bulk);
      expect(ws.pausedFor).toBe(PAUSED_FOR_WRITES);
      expect(ws.tookWritesSinceLastLook(), "the next pause's first look").toBe(true);
    });
  }

  it("terminates a socket whose peer does not read once more than maxUnsentBytes of its frames wait, and says so once", async () => {
    const server = await realServer({ maxPayload: 1024, closeTimeoutMs: 30_000, maxUnsentBytes: 64 * 1024 });
    const client = await rawClient(server.port);
    client.socket.pause();
    const ws = server.sockets[0]!;
    const bulk = Buffer.concat([Buffer.from([0x82, 126, 0xff, 0xff]), Buffer.alloc(0xffff)]);
    for (let i = 0; i < 4096 && ws.readyState === 1; i++) ws.write(bulk);
    await expect.poll(() => server.logs[0]!.at(-1)).toBe("close");
    const stalled = server.logs[0]!.filter((line) => line.startsWith("stalled"));
    expect(stalled).toHaveLength(1);
    expect(Number(stalled[0]!.split(" ")[1])).toBeGreaterThan(64 * 1024);
    // Written to after it was terminated (a push racing the close): no second word.
    ws.write(bulk);
    expect(server.logs[0]!.filter((line) => line.startsWith("stalled"))).toHaveLength(1);
  });

  it("writes nothing to the socket after it closed", async () => {
    const server = await realServer();
    const client = await connectClient(server.port);
    client.close(1000);
    await expect.poll(() => server.logs[0]).toEqual(["close"]);
    const ws = server.sockets[0]!;
    let writes = 0;
    const write = ws.socket.write.bind(ws.socket);
    ws.socket.write = ((...args: Parameters<typeof write>) => {
      writes++;
      return write(...args);
    }) as typeof ws.socket.write;
    ws.ping();
    ws.close(1000, "again");
    ws.terminate();
    expect(writes).toBe(0);
    expect(server.logs[0]).toEqual(["close"]);
  });
});
