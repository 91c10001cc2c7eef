/**
 * What ws's per-socket objects cost a new agent, alone: N WebSocket
 * connections on loopback against a server in a child process, each one
 * upgraded, one masked binary frame of a first report's size answered with
 * one frame, then closed by the client (a close frame, answered). Both
 * variants go through Node's HTTP server; they differ in the upgrade and
 * what is built after it:
 *
 *   ws    ws's handleUpgrade (its WebSocket, Receiver, a Writable, and
 *         Sender, the socket's listeners) and the four listeners the gateway
 *         added, as the gateway was until docs/performance.md §52. The reply
 *         is written to the socket directly, as the gateway writes it.
 *   ours  the gateway's path since §52: completeWebSocketHandshake's 101, a
 *         ServerWebSocket (server-websocket.ts) with one events object for
 *         every socket, and the whole-frame reader (whole-binary-frames.ts).
 *   own   the least a reader of our own would need (minimal-ws-reader.ts):
 *         a `data` listener, an `error` and a `close` listener and a small
 *         state object per socket; a masked binary frame is answered, a close
 *         frame gets the close reply and the socket is ended.
 *
 * The figure is the server's CPU per connection (its own process.cpuUsage
 * around the round, after a warm-up), so the clients' share of the machine
 * does not count; variants alternate round by round, a fresh server each.
 * Then HOLD connections are opened and left open after their first answer
 * (a storm's agents stay: the CPU per connection of this part is printed
 * too, without the close), and the server's heap after a full collection is compared with before:
 * retained bytes per socket (Node's socket itself is in both). docs/
 * performance.md §51.
 *
 *   npx tsx bench/ws-socket-micro.ts [connections per round] [rounds] [concurrency] [hold]
 *   flock /tmp/fp-heavy.lock npx tsx bench/ws-socket-micro.ts 4000 4 200 2000
 *
 * VARIANTS=ws,ours,own picks variants (all three by default); MICRO_NODE_ARGS adds node flags to the server.
 */
import { hash } from "node:crypto";
import { fork } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import { WebSocketServer, type WebSocket } from "ws";
import { completeWebSocketHandshake } from "../services/opamp-gateway/src/websocket-handshake.js";
import { readWholeFramesFromSocket } from "../services/opamp-gateway/src/whole-binary-frames.js";
import { CLOSE_TIMEOUT_MS, type ServerWebSocketEvents } from "../services/opamp-gateway/src/server-websocket.js";
import { reportCpuOnRequest } from "./child-cpu.js";
import { MinimalWsReader } from "./minimal-ws-reader.js";

type Variant = "ws" | "ours" | "own";
const LIMITS = { maxPayload: 1 << 20, closeTimeoutMs: CLOSE_TIMEOUT_MS, maxUnsentBytes: 0 };
/** One round's figures: server CPU per connection closed after its answer, per connection kept open, bytes retained per open socket. */
interface Result {
  cpuUsPer: number;
  heldCpuUsPer: number;
  heapBytesPer: number;
}
/** About a simulator's first report (an AgentToServer with its description, ~600 bytes): a 16-bit length. */
const FIRST_REPORT = 600;
/** About a first reply. */
const REPLY = 40;
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// ---- the server (child process) ----------------------------------------------

function serve(variant: Variant): void {
  const reply = Buffer.concat([Buffer.from([0x82, REPLY]), Buffer.alloc(REPLY, 1)]);
  let answered = 0;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20, perMessageDeflate: false, clientTracking: false });
  const open = new Set<unknown>();
  const events: ServerWebSocketEvents<Duplex> = {
    message(ws): void {
      answered++;
      ws.owner!.write(Buffer.from(reply));
    },
    pong(): void {},
    error(): void {},
    stalled(): void {},
    close(ws): void {
      open.delete(ws);
    },
  };
  const shared = {
    pong(): void {},
    error(): void {},
    close(this: WebSocket): void {
      open.delete(this);
    },
  };
  const server = http.createServer();
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (variant === "ws") {
      // ws's own server side, as the gateway used it until §52: its WebSocket, Receiver and Sender per socket.
      wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        ws.on("message", () => {
          answered++;
          socket.write(Buffer.from(reply));
        });
        ws.on("pong", shared.pong);
        ws.on("error", shared.error);
        ws.on("close", shared.close);
        open.add(ws);
      });
      return;
    }
    if (variant === "ours") {
      // The gateway's path (opamp-transport.ts): our 101, a ServerWebSocket with one events object for all sockets, the whole-frame reader.
      const ws = completeWebSocketHandshake(wss, req, socket, head, LIMITS, events);
      if (ws) {
        ws.owner = socket;
        readWholeFramesFromSocket(ws);
        open.add(ws);
      }
      return;
    }
    // The plain path's 101, as completeWebSocketHandshake writes it.
    const key = req.headers["sec-websocket-key"]!;
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${hash("sha1", key + GUID, "base64")}\r\n\r\n`);
    const s = socket as net.Socket;
    s.setNoDelay(true);
    const state = new MinimalWsReader(s, () => {
      answered++;
      s.write(Buffer.from(reply));
    });
    s.on("data", state.onData);
    s.on("error", shared.error);
    s.on("close", () => open.delete(state));
    open.add(state);
  });
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as net.AddressInfo).port }));
  reportCpuOnRequest(() => answered, false);
  let heapBefore = 0;
  process.on("message", (m: { cmd: string }) => {
    if (m.cmd === "heap-before") {
      heapBefore = settledHeap();
      process.send!({ open: open.size });
    } else if (m.cmd === "heap-after") {
      process.send!({ heapBytes: settledHeap() - heapBefore, open: open.size }, () => process.exit(0));
    }
  });
}

/** A full collection (twice: weak callbacks), then what the heap and external memory hold. */
function settledHeap(): number {
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

// ---- the clients (parent process) ---------------------------------------------

const MASK = Buffer.from([1, 2, 3, 4]);
const firstFrame = Buffer.concat([Buffer.from([0x82, 0x80 | 126, FIRST_REPORT >> 8, FIRST_REPORT & 0xff]), MASK, Buffer.alloc(FIRST_REPORT, 7)]);
const closeFrame = Buffer.concat([Buffer.from([0x88, 0x82]), MASK, Buffer.from([0x03 ^ 1, 0xe8 ^ 2])]);

/** One agent's life: upgrade, one frame answered, then (unless held) the close handshake. Resolves when done (held: when answered). */
function connectOnce(port: number, hold: boolean, held: net.Socket[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    const key = Buffer.from(Array.from({ length: 16 }, () => Math.floor(Math.random() * 256))).toString("base64");
    let stage: "101" | "reply" | "close" = "101";
    let got = Buffer.alloc(0);
    socket.on("connect", () => socket.write(`GET /v1/opamp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    socket.on("data", (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (stage === "101") {
        const end = got.indexOf("\r\n\r\n");
        if (end < 0) return;
        got = got.subarray(end + 4);
        stage = "reply";
        socket.write(firstFrame);
      }
      if (stage === "reply" && got.length >= 2 + REPLY) {
        got = got.subarray(2 + REPLY);
        if (hold) {
          held.push(socket);
          return resolve();
        }
        stage = "close";
        socket.write(closeFrame);
      }
    });
    socket.on("close", () => (stage === "close" ? resolve() : hold ? undefined : reject(new Error(`closed at ${stage}`))));
    socket.on("error", () => {});
  });
}

async function connectMany(port: number, n: number, concurrency: number, hold = false, held: net.Socket[] = []): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      next++;
      await connectOnce(port, hold, held);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
}

async function round(variant: Variant, n: number, concurrency: number, hold: number): Promise<Result> {
  const args = (process.env.MICRO_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = fork(fileURLToPath(import.meta.url), ["--serve", variant], { execArgv: ["--import", "tsx", "--expose-gc", ...args] });
  const next = <T>(): Promise<T> => new Promise((resolve) => child.once("message", (m) => resolve(m as T)));
  const { port } = await next<{ port: number }>();
  await connectMany(port, Math.min(1000, n), concurrency); // warm-up: JIT and pools
  child.send({ cmd: "start" });
  await connectMany(port, n, concurrency);
  child.send({ cmd: "stop" });
  const { cpuUs, answered } = await next<{ cpuUs: number; answered: number }>();
  if (answered !== n) throw new Error(`${variant}: ${answered} of ${n} answered`);
  // Sockets closed in the round may still be closing on the server: wait until none is open.
  for (;;) {
    child.send({ cmd: "heap-before" });
    if ((await next<{ open: number }>()).open === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const held: net.Socket[] = [];
  child.send({ cmd: "start" });
  await connectMany(port, hold, concurrency, true, held);
  child.send({ cmd: "stop" });
  const kept = await next<{ cpuUs: number; answered: number }>();
  child.send({ cmd: "heap-after" });
  const { heapBytes, open } = await next<{ heapBytes: number; open: number }>();
  if (open !== hold) throw new Error(`${variant}: ${open} of ${hold} held open`);
  for (const s of held) s.destroy();
  return { cpuUsPer: cpuUs / n, heldCpuUsPer: hold > 0 ? kept.cpuUs / hold : 0, heapBytesPer: hold > 0 ? heapBytes / hold : 0 };
}

async function main(): Promise<void> {
  const [n = 4000, rounds = 4, concurrency = 200, hold = 2000] = process.argv.slice(2).map(Number);
  const variants = (process.env.VARIANTS ?? "ws,ours,own").split(",") as Variant[];
  const results = new Map<Variant, Result[]>(variants.map((v) => [v, []]));
  for (let r = 1; r <= rounds; r++) {
    for (const v of r % 2 === 1 ? variants : [...variants].reverse()) {
      const result = await round(v, n, concurrency, hold);
      results.get(v)!.push(result);
      console.log(`round ${r} ${v.padEnd(4)} ${result.cpuUsPer.toFixed(1)} µs server CPU per connection (closed), ${result.heldCpuUsPer.toFixed(1)} per connection kept open, ${Math.round(result.heapBytesPer)} bytes retained per open socket`);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const [v, rs] of results) {
    console.log(`${v.padEnd(4)} mean ${mean(rs.map((x) => x.cpuUsPer)).toFixed(1)} µs per connection closed (${rs.map((x) => x.cpuUsPer.toFixed(1)).join(" · ")}), ${mean(rs.map((x) => x.heldCpuUsPer)).toFixed(1)} per connection kept open (${rs.map((x) => x.heldCpuUsPer.toFixed(1)).join(" · ")}), ${Math.round(mean(rs.map((x) => x.heapBytesPer)))} bytes per open socket (${rs.map((x) => Math.round(x.heapBytesPer)).join(" · ")})`);
  }
}

if (process.argv[2] === "--serve") serve(process.argv[3] as Variant);
else
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
