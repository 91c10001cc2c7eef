import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AgentToServerSchema, ServerToAgentSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { bytesEqual } from "@fleetplane/platform";
import http from "node:http";
import { gzipSync } from "node:zlib";
import WebSocket from "ws";
import type { Body, FuzzInput, HttpInput, WsInput } from "./fuzz-inputs.js";
import { answerDeadline, ownStalledMs } from "./own-stalls.js";

/** What the server did with one input: an HTTP status, or how the WebSocket ended. */
export type Outcome =
  | { kind: "http"; status: number; undecodableReply: boolean }
  | { kind: "http-error"; code: string; detail?: string }
  | { kind: "ws"; closeCode: number | undefined; replies: number; undecodableReplies: number; answered: boolean; timedOut: boolean };

/** Close codes a server sends when it failed (RFC 6455 1011 "internal error"), the WebSocket twin of a 5xx. */
const SERVER_FAILURE_CLOSE = 1011;

/** Why an outcome shows a server fault for client input, or undefined when it is a fair answer. */
export function serverFault(outcome: Outcome): string | undefined {
  if (outcome.kind === "http" && outcome.status >= 500) return `HTTP ${outcome.status} for client input`;
  // A server that stops answering (hung, or its event loop blocked) fails as surely as one that dies.
  if (outcome.kind === "http-error" && outcome.code === "ETIMEDOUT") return `no HTTP answer within the answer timeout (${outcome.detail ?? ""})`;
  if (outcome.kind === "ws" && outcome.timedOut) return "the WebSocket input was neither answered nor closed within the answer timeout";
  if (outcome.kind === "http" && outcome.undecodableReply) return "a 200 reply that is not a ServerToAgent";
  if (outcome.kind === "ws" && outcome.closeCode === SERVER_FAILURE_CLOSE) return "WebSocket closed with 1011 (internal error)";
  if (outcome.kind === "ws" && outcome.undecodableReplies > 0) return "a WebSocket reply that is not a ServerToAgent";
  return undefined;
}

const bombs = new Map<number, Uint8Array>();
function bodyBytes(body: Body): Uint8Array {
  if ("bytes" in body) return body.bytes;
  let bomb = bombs.get(body.gzipBombMiB);
  if (!bomb) {
    bomb = gzipSync(Buffer.alloc(body.gzipBombMiB * 1024 * 1024), { level: 9 });
    bombs.set(body.gzipBombMiB, bomb);
  }
  return bomb;
}

/**
 * Sends inputs to one server. WebSocket inputs end with a valid heartbeat
 * from a UID of the delivering slot: its reply (or the socket's close) says
 * the server is done with the input, without waiting on a timer.
 */
export class FuzzDelivery {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  constructor(
    private readonly target: { wsUrl: string; httpUrl: string },
    // Long: the long runs share a busy machine at nice 19, and a late answer is no fault.
    private readonly answerTimeoutMs = 30_000,
  ) {}

  deliver(input: FuzzInput, slot: number): Promise<Outcome> {
    return input.kind === "ws" ? this.deliverWs(input, slot) : this.deliverHttp(input);
  }

  close(): void {
    this.httpAgent.destroy();
  }

  private deliverHttp(input: HttpInput): Promise<Outcome> {
    const url = new URL(this.target.httpUrl);
    const body = bodyBytes(input.body);
    const headers: Record<string, string> = { "content-length": String(body.length) };
    if (input.contentType !== undefined) headers["content-type"] = input.contentType;
    if (input.contentEncoding !== undefined) headers["content-encoding"] = input.contentEncoding;
    return new Promise((resolve) => {
      const startedAt = performance.now();
      const stalledAtStart = ownStalledMs();
      let settled = false;
      const settle = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        cancelDeadline();
        resolve(outcome);
      };
      const req = http.request(
        { host: url.hostname, port: url.port, path: input.path, method: input.method, headers, agent: this.httpAgent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", () => settle({ kind: "http-error", code: "response aborted" }));
          res.on("end", () => {
            let undecodableReply = false;
            if (res.statusCode === 200 && res.headers["content-type"] === "application/x-protobuf" && res.headers["content-encoding"] === undefined) {
              try {
                fromBinary(ServerToAgentSchema, Buffer.concat(chunks));
              } catch {
                undecodableReply = true;
              }
            }
            settle({ kind: "http", status: res.statusCode ?? 0, undecodableReply });
          });
        },
      );
      // Not the socket's idle timeout: that fires after a stall of our own
      // before the answer that came meanwhile is read (own-stalls.ts).
      const cancelDeadline = answerDeadline(this.answerTimeoutMs, () => {
        const waited = performance.now() - startedAt;
        const detail = `waited ${Math.round(waited / 1000)} s, ${Math.round((ownStalledMs() - stalledAtStart) / 1000)} s of it with the fuzzer itself stalled; request ${req.writableFinished ? "sent whole" : "not yet sent whole"}, socket ${req.reusedSocket ? "reused (keep-alive)" : "new"}`;
        settle({ kind: "http-error", code: "ETIMEDOUT", detail });
        req.destroy();
      });
      req.on("error", (err: NodeJS.ErrnoException) => settle({ kind: "http-error", code: err.code ?? err.message }));
      req.end(body);
    });
  }

  private deliverWs(input: WsInput, slot: number): Promise<Outcome> {
    const followUpUid = slotUid(slot);
    return new Promise((resolve) => {
      const socket = new WebSocket(this.target.wsUrl, { perMessageDeflate: false, handshakeTimeout: this.answerTimeoutMs });
      socket.binaryType = "nodebuffer";
      let replies = 0;
      let undecodableReplies = 0;
      let answered = false;
      let settled = false;
      let timedOut = false;
      const cancelDeadline = answerDeadline(this.answerTimeoutMs, () => {
        timedOut = true;
        socket.terminate();
      });
      const finish = (closeCode: number | undefined) => {
        if (settled) return;
        settled = true;
        cancelDeadline();
        resolve({ kind: "ws", closeCode, replies, undecodableReplies, answered, timedOut });
      };
      socket.on("open", () => {
        for (const frame of input.frames) socket.send(bodyBytes(frame), { binary: !input.text });
        const heartbeat = toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: followUpUid, sequenceNum: 1n }));
        socket.send(Buffer.concat([Buffer.from([0]), heartbeat]));
      });
      socket.on("message", (data: Buffer) => {
        replies++;
        try {
          if (data[0] !== 0) throw new Error("no OpAMP header");
          const reply = fromBinary(ServerToAgentSchema, data.subarray(1));
          if (bytesEqual(reply.instanceUid, followUpUid)) {
            answered = true;
            // Done with this input: say goodbye and wait for the close handshake.
            socket.close(1000);
          }
        } catch {
          undecodableReplies++;
        }
      });
      socket.on("error", () => undefined);
      socket.on("close", (code: number) => finish(code === 1005 ? undefined : code));
    });
  }
}

/** A fixed valid UID per delivery slot: slots run one input at a time, so one UID is never on two sockets of ours at once. */
function slotUid(slot: number): Uint8Array {
  const uid = new Uint8Array(16);
  uid.set([0x0c, 0x4a, 0x05, 0xf0, 0x00, 0x00, 0x70, 0x00, 0x80], 0);
  new DataView(uid.buffer).setUint32(12, slot);
  return uid;
}
