/**
 * How a reply is written, alone: a closed loop of N TCP clients on loopback,
 * each sending a 33-byte message (a heartbeat's size as a WebSocket frame)
 * and waiting for a 33-byte answer, against a server in a child process that
 * writes the answer one way or another. The figure is the server's CPU per
 * answer (its own process.cpuUsage), so the clients' share of the machine
 * does not count. docs/performance.md §20.
 *
 *   npx tsx bench/reply-write-micro.ts [seconds per variant] [rounds] [clients]
 *
 * Variants: `one` (header and payload in one Buffer, one socket.write: what
 * the gateway does), `cork` (header and payload as two writes under
 * cork/uncork, a writev: what ws's Sender does), `one-nagle` (`one` with
 * setNoDelay(false); ws turns Nagle's algorithm off on every socket),
 * `user-read` (`one`, the reads landing in one shared buffer — Node's onread
 * option, set on the accepted socket — and copied out, instead of a fresh
 * allocation per read), `handle-write` (`one`, written straight to the TCP
 * handle, without the Writable). VARIANTS=a,b picks variants;
 * MICRO_NODE_ARGS adds node flags to the server (e.g. --cpu-prof). §20, §25.
 */
import { fork } from "node:child_process";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { reportCpuOnRequest } from "./child-cpu.js";

const FRAME = 33;
const HEADER = 2;
type Variant = "one" | "cork" | "one-nagle" | "user-read" | "handle-write";

async function serve(variant: Variant): Promise<void> {
  const reply = Buffer.alloc(FRAME, 1);
  let answered = 0;
  const server = net.createServer((socket) => {
    socket.setNoDelay(variant !== "one-nagle");
    if (variant === "user-read") readIntoSharedBuffer(socket);
    let pending = 0;
    socket.on("data", (chunk) => {
      pending += chunk.length;
      while (pending >= FRAME) {
        pending -= FRAME;
        answered++;
        if (variant === "cork") {
          socket.cork();
          socket.write(reply.subarray(0, HEADER));
          socket.write(reply.subarray(HEADER));
          socket.uncork();
        } else if (variant === "handle-write") {
          writeToHandle(socket, Buffer.from(reply));
        } else {
          socket.write(Buffer.from(reply));
        }
      }
    });
    socket.on("error", () => {});
  });
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as net.AddressInfo).port }));
  reportCpuOnRequest(() => answered, true);
}

/** Experimental: reads land in one shared buffer (Node's onread option, on an accepted socket) and are copied out, instead of a new 64 KiB allocation per read. */
const shared = Buffer.allocUnsafe(65536);
function readIntoSharedBuffer(socket: net.Socket): void {
  const symbols = Object.getOwnPropertySymbols(socket);
  const kBuffer = symbols.find((s) => s.description === "kBuffer")!;
  const kBufferCb = symbols.find((s) => s.description === "kBufferCb")!;
  const target = socket as unknown as Record<symbol, unknown>;
  target[kBuffer] = shared;
  target[kBufferCb] = (nread: number, buf: Buffer) => {
    const copy = Buffer.allocUnsafe(nread);
    buf.copy(copy, 0, 0, nread);
    return socket.push(copy);
  };
  (socket as unknown as { _handle: { useUserBuffer(b: Buffer): void } })._handle.useUserBuffer(shared);
}

/** Experimental: the reply written straight to the TCP handle, not through the Writable (Node's own write request class). */
interface WriteRequest {
  handle: unknown;
  oncomplete: () => void;
  async: boolean;
  buffer: Buffer | null;
}
const { WriteWrap } = (process as unknown as { binding(name: string): { WriteWrap: new () => WriteRequest } }).binding("stream_wrap");
function writeToHandle(socket: net.Socket, data: Buffer): void {
  const handle = (socket as unknown as { _handle: { writeBuffer(req: WriteRequest, data: Buffer): number } })._handle;
  const req = new WriteWrap();
  req.handle = handle;
  req.oncomplete = () => {};
  req.async = false;
  req.buffer = data;
  const err = handle.writeBuffer(req, data);
  if (err !== 0) socket.destroy();
}

async function measure(variant: Variant, seconds: number, clients: number): Promise<{ usPerAnswer: number; perSecond: number }> {
  const child = fork(fileURLToPath(import.meta.url), ["--serve", variant], { execArgv: ["--import", "tsx", ...(process.env.MICRO_NODE_ARGS?.split(" ") ?? [])] });
  const { port } = await new Promise<{ port: number }>((resolve) => child.once("message", resolve as (m: unknown) => void));
  const message = Buffer.alloc(FRAME, 2);
  let running = true;
  const sockets = await Promise.all(
    Array.from({ length: clients }, () => new Promise<net.Socket>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => resolve(s));
      s.setNoDelay(true);
      let got = 0;
      s.on("data", (chunk) => {
        got += chunk.length;
        while (got >= FRAME) {
          got -= FRAME;
          if (running) s.write(message);
        }
      });
      s.on("error", () => {});
    })),
  );
  for (const s of sockets) s.write(message);
  await new Promise((r) => setTimeout(r, 500)); // warm up
  child.send({ cmd: "start" });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const result = new Promise<{ cpuUs: number; answered: number }>((resolve) => child.once("message", resolve as (m: unknown) => void));
  child.send({ cmd: "stop" });
  const { cpuUs, answered } = await result;
  running = false;
  for (const s of sockets) s.destroy();
  return { usPerAnswer: cpuUs / answered, perSecond: answered / seconds };
}

if (process.argv[2] === "--serve") {
  await serve(process.argv[3] as Variant);
} else {
  const seconds = Number(process.argv[2] ?? 4);
  const rounds = Number(process.argv[3] ?? 2);
  const clients = Number(process.argv[4] ?? 200);
  for (let r = 1; r <= rounds; r++) {
    const all: Variant[] = (process.env.VARIANTS?.split(",") as Variant[] | undefined) ?? ["one", "cork", "one-nagle"];
    const order = r % 2 ? all : [...all].reverse();
    for (const v of order) {
      const { usPerAnswer, perSecond } = await measure(v, seconds, clients);
      console.log(`round ${r} ${v.padEnd(10)} ${usPerAnswer.toFixed(2)} µs server CPU per answer, ${Math.round(perSecond)} answers/s`);
    }
  }
}
