import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  AgentCapabilities,
  AgentToServerSchema,
  RemoteConfigStatuses,
  ServerToAgentSchema,
  type ServerToAgent,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { uuidv7Bytes } from "@fleetplane/platform";
import { gzipSync, gunzipSync } from "node:zlib";
import WebSocket from "ws";
import { agentAuthHeaders } from "./agent-tokens.js";
import { eventually } from "./eventually.js";

export const CAPS = BigInt(
  AgentCapabilities.AgentCapabilities_ReportsStatus |
    AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig |
    AgentCapabilities.AgentCapabilities_ReportsEffectiveConfig |
    AgentCapabilities.AgentCapabilities_ReportsRemoteConfig |
    AgentCapabilities.AgentCapabilities_ReportsHealth |
    AgentCapabilities.AgentCapabilities_AcceptsRestartCommand,
);

/** Whether a message's flags or capabilities (uint64 bit sets) have `bit` set. */
export function hasFlag(bits: bigint | undefined, bit: number): boolean {
  return ((bits ?? 0n) & BigInt(bit)) !== 0n;
}

export function description(name = "sim-agent") {
  return {
    identifyingAttributes: [{ key: "service.name", value: { value: { case: "stringValue" as const, value: name } } }],
    nonIdentifyingAttributes: [{ key: "os.type", value: { value: { case: "stringValue" as const, value: "linux" } } }],
  };
}

/** A minimal OpAMP agent over WebSocket, written for tests: it records everything it receives. */
export class WsAgent {
  readonly received: ServerToAgent[] = [];
  seq = 0n;
  closeCode?: number;
  /** Pings received from the server. */
  pings = 0;
  private constructor(readonly uid: Uint8Array, readonly socket: WebSocket) {}

  /**
   * `answerPings: false` makes a half-open peer: the socket stays open but
   * never answers the server's pings (ws answers them by default).
   * The upgrade carries the Authorization header of the server's test token
   * (agent-tokens.ts), unless `headers` are given instead.
   */
  static async connect(url: string, uid: Uint8Array = uuidv7Bytes(), options: { answerPings?: boolean; headers?: Record<string, string>; tls?: AgentTls } = {}): Promise<WsAgent> {
    const socket = new WebSocket(url, { autoPong: options.answerPings ?? true, headers: options.headers ?? agentAuthHeaders(url), ...options.tls });
    const agent = new WsAgent(uid, socket);
    socket.binaryType = "nodebuffer";
    socket.on("message", (data: Buffer) => {
      if (data[0] !== 0) throw new Error("server frame lacks the 0 header");
      agent.received.push(fromBinary(ServerToAgentSchema, data.subarray(1)));
    });
    socket.on("close", (code: number) => (agent.closeCode = code));
    socket.on("ping", () => agent.pings++);
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    return agent;
  }

  /**
   * Connects, sends `fields` as the first message (sequence numbers carry on
   * from `seq`, for an agent coming back) and waits for the server's answer:
   * an agent the server has taken in.
   */
  static async hello(
    url: string,
    uid: Uint8Array = uuidv7Bytes(),
    fields: MessageInitShape<typeof AgentToServerSchema> = {},
    options: Parameters<typeof WsAgent.connect>[2] & { seq?: bigint; timeoutMs?: number } = {},
  ): Promise<WsAgent> {
    const agent = await WsAgent.connect(url, uid, options);
    agent.seq = options.seq ?? 0n;
    await agent.roundTrip(fields, options.timeoutMs);
    return agent;
  }

  /** Sends a message and waits for the reply to it (the server answers every message). */
  roundTrip(fields: MessageInitShape<typeof AgentToServerSchema> = {}, timeoutMs = 15_000): Promise<ServerToAgent> {
    const n = this.received.length;
    this.send(fields);
    return eventually(() => this.received[n], timeoutMs, `the reply to message ${this.seq - 1n} of ${Buffer.from(this.uid).toString("hex")}`);
  }

  /** Sends a message (sequence number filled in) with the OpAMP header, or raw bytes as given. */
  send(fields: MessageInitShape<typeof AgentToServerSchema> = {}): void {
    const msg = create(AgentToServerSchema, { instanceUid: this.uid, capabilities: CAPS, sequenceNum: this.seq++, ...fields });
    this.sendRaw(Buffer.concat([Buffer.from([0]), toBinary(AgentToServerSchema, msg)]));
  }

  sendRaw(bytes: Uint8Array): void {
    this.socket.send(bytes, { binary: true });
  }

  reportConfig(hash: Uint8Array, status: RemoteConfigStatuses, errorMessage = ""): void {
    this.send({ remoteConfigStatus: { $typeName: "opamp.proto.v1.RemoteConfigStatus", lastRemoteConfigHash: hash, status, errorMessage } });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.readyState === WebSocket.CLOSED) return resolve();
      this.socket.once("close", () => resolve());
      this.socket.close(1000);
    });
  }
}

/** For wss:// and https://: the server's CA, and the agent's client certificate and key (mTLS). */
export interface AgentTls {
  ca?: string;
  cert?: string;
  key?: string;
}

/** One plain-HTTP poll, with the Authorization header of the server's test token (agent-tokens.ts) unless `withoutToken`; `headers` go on top. */
export async function httpPoll(
  url: string,
  msg: MessageInitShape<typeof AgentToServerSchema>,
  options: {
    gzipRequest?: boolean;
    acceptGzip?: boolean;
    rawBody?: Uint8Array;
    headers?: Record<string, string>;
    keepAlive?: boolean;
    /** Polls over this agent's connections (keep-alive across polls, as real agents poll); not destroyed here. */
    connection?: import("node:http").Agent;
    withoutToken?: boolean;
    tls?: AgentTls;
  } = {},
): Promise<{ status: number; headers: Headers; message?: ServerToAgent; text?: string }> {
  let body: Uint8Array = options.rawBody ?? toBinary(AgentToServerSchema, create(AgentToServerSchema, { capabilities: CAPS, ...msg }));
  const headers: Record<string, string> = { "content-type": "application/x-protobuf", ...(options.withoutToken ? {} : agentAuthHeaders(url)), ...options.headers };
  if (options.gzipRequest) {
    body = gzipSync(body);
    headers["content-encoding"] = "gzip";
  }
  headers["accept-encoding"] = options.acceptGzip ? "gzip" : "identity";
  // node's fetch decompresses gzip itself; use the raw http module to see the wire.
  const http = url.startsWith("https:") ? await import("node:https") : await import("node:http");
  return new Promise((resolve, reject) => {
    // A keep-alive agent sends "Connection: keep-alive" as polling agents do.
    const agent = options.keepAlive && !options.connection ? new http.Agent({ keepAlive: true }) : false;
    const req = http.request(url, { method: "POST", headers, agent: options.connection ?? agent, ...options.tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        let raw = Buffer.concat(chunks);
        if (res.headers["content-encoding"] === "gzip") raw = gunzipSync(raw);
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
        let message: ServerToAgent | undefined;
        if (res.headers["content-type"] === "application/x-protobuf") message = fromBinary(ServerToAgentSchema, raw);
        if (agent) agent.destroy();
        resolve({ status: res.statusCode ?? 0, headers: h, ...(message ? { message } : { text: raw.toString("utf8") }) });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}
