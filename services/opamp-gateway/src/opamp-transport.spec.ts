import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AgentToServerSchema,
  ServerErrorResponseType,
  ServerToAgentSchema,
  type AgentToServer,
  type ServerToAgent,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { OutboundMessageTooLargeError, SERVER_CAPABILITIES, errorReply, serverCapabilities, serverToAgent } from "@fleetplane/opamp";
import { silentLogger } from "@fleetplane/platform";
import * as http from "node:http";
import * as net from "node:net";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { AgentConnection } from "./agent-connection.js";
import { NO_CREDENTIALS } from "./agent-authentication.js";
import { AnnouncedCapabilities } from "./announced-capabilities.js";
import { InboundMessageTooLargeError } from "./inbound-message-too-large.js";
import type { OpampCallbacks } from "./opamp-callbacks.js";
import { OpampTransport, WS_MAX_QUEUED_BYTES, type OpampTransportOptions } from "./opamp-transport.js";
import { NewAgentAdmission } from "./new-agent-admission.js";
import { RateLimitedWarnings } from "./rate-limited-warnings.js";
import { MalformedFrameError } from "./ws-framing.js";
import { PAUSED_FOR_QUEUE, PAUSED_FOR_WRITES, type ServerWebSocket } from "./server-websocket.js";
import type { WebSocketAgentConnection } from "./websocket-connection.js";
import { frame } from "./websocket-spec-support.js";

const LIMIT = 4096;
const uid = new Uint8Array(16).fill(9);
/** Asks the test service for a reply over the size limit. */
const HUGE_REPLY = 99n;
/** Asks the test service for a BAD_REQUEST, or an UNAVAILABLE with a 2 s retry hint. */
const BAD_REQUEST = 98n;
const UNAVAILABLE = 97n;

/** Callbacks that answer every message with flags 4 and record what the transport told them. */
function recordingCallbacks(o: { readErrorReply?: boolean } = {}) {
  const seen = { messages: [] as AgentToServer[], readErrors: [] as Error[], responseErrors: [] as Error[], connected: [] as AgentConnection[], refused: [] as AgentConnection[], closed: [] as AgentConnection[] };
  const callbacks: OpampCallbacks = {
    onConnecting: async () => ({ accept: true, credentials: NO_CREDENTIALS }),
    onConnected: (conn) => void seen.connected.push(conn),
    onMessage: async (_conn, message) => {
      seen.messages.push(message);
      if (message.sequenceNum === HUGE_REPLY) return serverToAgent(message.instanceUid, SERVER_CAPABILITIES, { errorResponse: { errorMessage: "x".repeat(LIMIT) } });
      if (message.sequenceNum === BAD_REQUEST) return errorReply(message.instanceUid, SERVER_CAPABILITIES, ServerErrorResponseType.ServerErrorResponseType_BadRequest, "refused");
      if (message.sequenceNum === UNAVAILABLE) return errorReply(message.instanceUid, SERVER_CAPABILITIES, ServerErrorResponseType.ServerErrorResponseType_Unavailable, "later", 2_000);
      return serverToAgent(message.instanceUid, SERVER_CAPABILITIES, { flags: 4n });
    },
    onAdmissionRefused: (conn) => void seen.refused.push(conn),
    onReadMessageError: (_conn, error) => {
      seen.readErrors.push(error);
      if (error instanceof InboundMessageTooLargeError || o.readErrorReply === false) return undefined;
      return errorReply(new Uint8Array(), SERVER_CAPABILITIES, ServerErrorResponseType.ServerErrorResponseType_BadRequest, `service: ${error.message}`);
    },
    onMessageResponseError: (_conn, _message, error) => void seen.responseErrors.push(error),
    onConnectionClose: (conn) => void seen.closed.push(conn),
  };
  return { callbacks, seen };
}

let transport: OpampTransport | undefined;
afterEach(async () => {
  await transport?.close(1_000);
  transport = undefined;
});

async function start(callbacks: OpampCallbacks, capabilities = new AnnouncedCapabilities(), settings: Partial<OpampTransportOptions> = {}): Promise<{ ws: string; http: string; port: number }> {
  transport = new OpampTransport(
    {
      host: "127.0.0.1",
      port: 0,
      paths: ["/v1/opamp"],
      maxMessageBytes: LIMIT,
      wsPingIntervalMs: 0,
      firstMessageTimeoutMs: 30_000,
      handshakeTimeoutMs: 10_000,
      maxConnections: 0,
      retryAfterMs: 2_000,
      liveness: { missedIntervals: 3, defaultIntervalMs: 30_000 },
      capabilities,
      gatewayId: "gw",
      admission: new NewAgentAdmission({ perSource: 0, total: 0 }),
      limits: { maxDescriptionAttributes: 3, maxAttributeBytes: 0, maxCustomMessageBytes: 0, maxEffectiveConfigBytes: 0, maxHealthComponents: 0, maxHealthDepth: 10, maxPackageStatuses: 0, maxPackageStatusBytes: 0, maxAvailableComponents: 0, maxAvailableComponentsDepth: 10, maxAvailableComponentsBytes: 0 },
      warnings: new RateLimitedWarnings(silentLogger(), { count: () => {} }, 60_000),
      logger: silentLogger(),
      ...settings,
    },
    callbacks,
  );
  const port = await transport.listen();
  return { ws: `ws://127.0.0.1:${port}/v1/opamp`, http: `http://127.0.0.1:${port}/v1/opamp`, port };
}

const agentMessage = (fields: Partial<{ sequenceNum: bigint; instanceUid: Uint8Array }> = {}) => toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: uid, ...fields }));

/** One POST as an agent makes it; the body of a protobuf answer decoded. */
function post(url: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; reply?: ServerToAgent; text?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/x-protobuf", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const raw = new Uint8Array(Buffer.concat(chunks));
        if (res.headers["content-type"] === "application/x-protobuf") resolve({ status: res.statusCode!, headers: res.headers, reply: fromBinary(ServerToAgentSchema, raw) });
        else resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.from(raw).toString() });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A WebSocket agent: its replies, decoded, and how the server closed it. */
async function wsAgent(url: string) {
  const socket = new WebSocket(url);
  const replies: ServerToAgent[] = [];
  const waiters: Array<() => void> = [];
  socket.on("message", (data: Buffer) => {
    expect(data[0]).toBe(0);
    replies.push(fromBinary(ServerToAgentSchema, new Uint8Array(data).subarray(1)));
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<number>((resolve) => socket.once("close", (code: number) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  return {
    socket,
    closed,
    send: (bytes: Uint8Array, binary = true) => socket.send(bytes, { binary }),
    async reply(n: number): Promise<ServerToAgent> {
      while (replies.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
      return replies[n - 1]!;
    },
  };
}

/** The status a WebSocket upgrade is refused with, and its Retry-After (0 and undefined when it is accepted). */
function upgradeRefusal(url: string): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once("unexpected-response", (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] as string | undefined });
    });
    socket.once("open", () => {
      socket.close();
      resolve({ status: 0 });
    });
    socket.once("error", reject);
  });
}

/** Polls until `probe` is true (or fails the test after 5 s). */
async function until(probe: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const otherUid = (n: number) => new Uint8Array(16).fill(n);

const framed = (body: Uint8Array) => new Uint8Array(Buffer.concat([Buffer.of(0), body]));

describe("the OpAMP transport", () => {
  it("serves WebSocket and plain HTTP on one port: a message reaches onMessage and its reply comes back", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const url = await start(callbacks);

    const agent = await wsAgent(url.ws);
    agent.send(framed(agentMessage({ sequenceNum: 1n })));
    const wsReply = await agent.reply(1);
    expect(wsReply.flags).toBe(4n);
    expect(wsReply.instanceUid).toEqual(uid);

    const poll = await post(url.http, agentMessage({ sequenceNum: 2n }));
    expect(poll.status).toBe(200);
    expect(poll.reply?.flags).toBe(4n);

    expect(seen.messages.map((m) => m.sequenceNum)).toEqual([1n, 2n]);
    expect(seen.connected.map((c) => c.id)).toEqual([expect.stringMatching(/^gw\/ws\//), expect.stringMatching(new RegExp(`^gw/http/${Buffer.from(uid).toString("hex")}-`))]);
    agent.socket.close(1000);
    expect(await agent.closed).toBe(1000);
  });

  it("gives each plain-HTTP session of one agent its own connection id, so an ended session's late cleanup cannot delete the next one's record", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const url = await start(callbacks);
    expect((await post(url.http, agentMessage({ sequenceNum: 1n }))).status).toBe(200);
    transport!.closeSessionsOf("", "revoked"); // the session ends (as on a certificate takeover or a revoked credential)
    expect(seen.closed).toHaveLength(1);
    expect((await post(url.http, agentMessage({ sequenceNum: 2n }))).status).toBe(200);
    const ids = seen.connected.map((c) => c.id);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect(id).toMatch(new RegExp(`^gw/http/${Buffer.from(uid).toString("hex")}-`));
  });

  it("answers an HTTP body that does not decode with 400 and the service's BadRequest", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const url = await start(callbacks);
    const poll = await post(url.http, Uint8Array.of(0x0a, 0x20, 1));
    expect(poll.status).toBe(400);
    expect(poll.reply?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(poll.reply?.errorResponse?.errorMessage).toMatch(/^service: AgentToServer does not decode/);
    expect(seen.readErrors[0]).toBeInstanceOf(MalformedFrameError);
    expect(seen.messages).toHaveLength(0);
  });

  it("sends the service's error_response over HTTP with 200, except UNAVAILABLE: 503 with Retry-After", async () => {
    const { callbacks } = recordingCallbacks();
    const url = await start(callbacks);
    const refused = await post(url.http, agentMessage({ sequenceNum: BAD_REQUEST }));
    expect(refused.status).toBe(200);
    expect(refused.reply?.errorResponse?.errorMessage).toBe("refused");
    const later = await post(url.http, agentMessage({ sequenceNum: UNAVAILABLE }));
    expect(later.status).toBe(503);
    expect(later.headers["retry-after"]).toBe("2");
  });

  it("answers an undecodable body itself, announcing the server's capabilities, when the service has no reply", async () => {
    const { callbacks } = recordingCallbacks({ readErrorReply: false });
    const announced = new AnnouncedCapabilities();
    const signing = serverCapabilities({ signsCertificates: true });
    announced.relayed(serverToAgent(uid, signing));
    const url = await start(callbacks, announced);
    const poll = await post(url.http, Uint8Array.of(0x0a, 0x20, 1));
    expect(poll.status).toBe(400);
    expect(poll.reply?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(poll.reply?.capabilities).toBe(signing);
  });

  it("refuses a message over the size limit: HTTP with 413, WebSocket with close 1009, both as InboundMessageTooLargeError", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const url = await start(callbacks);
    const tooBig = new Uint8Array(LIMIT + 1);

    const poll = await post(url.http, tooBig);
    expect(poll.status).toBe(413);
    expect(poll.text).toMatch(/exceeds the 4096-byte limit/);

    const agent = await wsAgent(url.ws);
    agent.send(tooBig);
    expect(await agent.closed).toBe(1009);
    expect(seen.readErrors).toHaveLength(2);
    for (const err of seen.readErrors) expect(err).toBeInstanceOf(InboundMessageTooLargeError);
    expect(seen.readErrors[1]!.cause).toBeDefined();
    expect(seen.messages).toHaveLength(0);
  });

  it("accepts a gzip-compressed HTTP request, and applies the limit after decompression", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const url = await start(callbacks);
    const poll = await post(url.http, gzipSync(agentMessage({ sequenceNum: 5n })), { "content-encoding": "gzip" });
    expect(poll.status).toBe(200);
    expect(poll.reply?.flags).toBe(4n);
    expect(seen.messages.map((m) => m.sequenceNum)).toEqual([5n]);

    const bomb = gzipSync(new Uint8Array(LIMIT * 10));
    expect(bomb.length).toBeLessThan(LIMIT);
    expect((await post(url.http, bomb, { "content-encoding": "gzip" })).status).toBe(413);
  });

  it("negotiates no permessage-deflate, so the size limit is on the message as it arrives: a compressible one over it closes 1009, a compressed frame 1002", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const url = await start(callbacks);
    // A client asking for compression gets none, so it sends the message whole.
    const socket = new WebSocket(url.ws, { perMessageDeflate: true });
    const closed = new Promise<number>((resolve) => socket.once("close", (code: number) => resolve(code)));
    await new Promise((resolve) => socket.once("open", resolve));
    expect(socket.extensions).toBe("");
    socket.send(new Uint8Array(LIMIT * 10));
    expect(await closed).toBe(1009);
    expect(seen.readErrors[0]).toBeInstanceOf(InboundMessageTooLargeError);

    // A client that compresses anyway (RSV1 set without the extension): a protocol error, never inflated.
    const raw = net.connect(url.port, "127.0.0.1");
    let received = Buffer.alloc(0);
    raw.on("data", (d: Buffer) => (received = Buffer.concat([received, d])));
    raw.write("GET /v1/opamp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    await until(() => received.includes("\r\n\r\n"), "the upgrade");
    expect(received.toString()).toMatch(/^HTTP\/1.1 101/);
    const headerEnd = received.indexOf("\r\n\r\n") + 4;
    // FIN + RSV1 + binary, masked, 3 bytes (mask 0: the payload as is).
    raw.write(Buffer.of(0xc2, 0x83, 0, 0, 0, 0, 1, 2, 3));
    await until(() => received.length >= headerEnd + 4, "the close frame");
    expect(received[headerEnd]).toBe(0x88);
    expect(received.readUInt16BE(headerEnd + 2)).toBe(1002);
    raw.destroy();
    expect(seen.messages).toHaveLength(0);
  });

  it("survives a request whose handling fails unexpectedly: HTTP gets 500, an upgrade is refused, nothing is left unhandled, and the next request is served", async () => {
    const { callbacks, seen } = recordingCallbacks();
    let failNext = 2;
    const failing: OpampCallbacks = {
      ...callbacks,
      onConnecting: async (req) => {
        if (failNext-- > 0) throw new TypeError("a bug");
        return callbacks.onConnecting(req);
      },
    };
    const url = await start(failing);
    expect((await post(url.http, agentMessage())).status).toBe(500);
    expect((await upgradeRefusal(url.ws)).status).toBe(500);
    const poll = await post(url.http, agentMessage({ sequenceNum: 3n }));
    expect(poll.status).toBe(200);
    expect(seen.messages.map((m) => m.sequenceNum)).toEqual([3n]);
  });

  it("survives a peer that resets its upgrading connection while onConnecting runs (no 'error' listener of Node's is left on it then), and serves the next agent", async () => {
    const { callbacks, seen } = recordingCallbacks();
    let sockets: net.Socket[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const slow: OpampCallbacks = {
      ...callbacks,
      onConnecting: async (req) => {
        sockets.push(req.socket as net.Socket);
        if (sockets.length === 1) await held;
        return callbacks.onConnecting(req);
      },
    };
    const url = await start(slow);
    const client = net.connect(url.port, "127.0.0.1", () =>
      client.write(`GET /v1/opamp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`),
    );
    client.on("error", () => {});
    await until(() => sockets.length === 1, "the upgrade to reach onConnecting");
    client.resetAndDestroy();
    // The reset reaches the server's socket as ECONNRESET: without a listener of its own, an uncaught exception.
    await until(() => sockets[0]!.destroyed, "the reset socket to be dropped");
    release();
    const agent = await wsAgent(url.ws);
    agent.send(framed(agentMessage({ sequenceNum: 7n })));
    await agent.reply(1);
    expect(seen.messages.map((m) => m.sequenceNum)).toEqual([7n]);
    sockets = [];
  });

  it("never sends a reply over the limit: HTTP gets an error reply in its place (200, so the agent reads it), WebSocket reports OutboundMessageTooLargeError", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const announced = new AnnouncedCapabilities();
    const url = await start(callbacks, announced);

    const poll = await post(url.http, agentMessage({ sequenceNum: HUGE_REPLY }));
    expect(poll.status).toBe(200);
    expect(poll.reply?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unknown);
    expect(poll.reply?.capabilities).toBe(announced.current);
    expect(poll.reply?.instanceUid).toEqual(uid);

    const agent = await wsAgent(url.ws);
    agent.send(framed(agentMessage({ sequenceNum: HUGE_REPLY })));
    agent.send(framed(agentMessage({ sequenceNum: 1n })));
    // Replies keep their order, so the next reply arriving means the huge one was dealt with.
    expect((await agent.reply(1)).flags).toBe(4n);
    expect(seen.responseErrors).toHaveLength(2);
    for (const err of seen.responseErrors) expect(err).toBeInstanceOf(OutboundMessageTooLargeError);
  });

  it("hands a text WebSocket frame to onReadMessageError and sends the BadRequest it returns", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const url = await start(callbacks);
    const agent = await wsAgent(url.ws);
    agent.send(framed(agentMessage()), false);
    const reply = await agent.reply(1);
    expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(seen.readErrors[0]).toBeInstanceOf(MalformedFrameError);
  });
});

describe("what the OpAMP transport keeps per WebSocket", () => {
  it("gives every socket the same listeners and the same event handlers, and they still act for each socket's own connection", async () => {
    // A closure per listener per socket was ~0.3 KiB of a worker's memory per agent (docs/performance.md §41).
    const { callbacks, seen } = recordingCallbacks();
    const urls = await start(callbacks);
    const [a, b] = [await wsAgent(urls.ws), await wsAgent(urls.ws)];
    await until(() => seen.connected.length === 2, "two connections");
    const sockets = seen.connected.map((conn) => (conn as unknown as { socket: ServerWebSocket }).socket);
    expect((sockets[0] as unknown as { events: unknown }).events).toBe((sockets[1] as unknown as { events: unknown }).events);
    const tcp = sockets.map((ws) => ws.socket);
    for (const event of ["data", "end", "error", "close"] as const) {
      const own = (listeners: Function[]) => listeners.filter((f) => f.name.startsWith("onSocket"));
      expect(own(tcp[0]!.listeners(event)), event).toHaveLength(1);
      expect(own(tcp[0]!.listeners(event))[0], event).toBe(own(tcp[1]!.listeners(event))[0]);
    }
    const [connA, connB] = seen.connected as unknown as Array<{ alive: boolean }>;
    connA!.alive = false;
    connB!.alive = false;
    sockets[1]!.ping();
    await until(() => connB!.alive, "the pong on its own connection");
    expect(connA!.alive).toBe(false);
    b.socket.close();
    await until(() => seen.closed.length === 1, "one close");
    expect(seen.closed[0]).toBe(seen.connected[1]);
    a.socket.close();
    await until(() => seen.closed.length === 2, "the other close");
    expect(seen.closed[1]).toBe(seen.connected[0]);
  });
});

describe("the OpAMP transport under abuse", () => {
  it("closes a WebSocket that sends no AgentToServer within the first-message timeout with 1008, and no longer counts it", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const url = await start(callbacks, undefined, { firstMessageTimeoutMs: 300 });
    const silent = await wsAgent(url.ws);
    const speaking = await wsAgent(url.ws);
    speaking.send(framed(agentMessage()));
    await speaking.reply(1);
    expect(await silent.closed).toBe(1008);
    await until(() => transport!.connectedWebSockets === 1, "the silent socket to be forgotten");
    expect(seen.closed).toHaveLength(1);
    // The agent that spoke in time is kept past the timeout.
    await new Promise((r) => setTimeout(r, 400));
    speaking.send(framed(agentMessage({ sequenceNum: 2n })));
    expect((await speaking.reply(2)).flags).toBe(4n);
    speaking.socket.close(1000);
  });

  it("closes a TCP connection that sends no request within the handshake timeout, and answers half-sent headers with 408", async () => {
    const { callbacks } = recordingCallbacks();
    const url = await start(callbacks, undefined, { handshakeTimeoutMs: 300 });
    // Read whatever comes: a client socket nobody reads never sees the end of
    // the stream, so it never closes. Which of the two closes the silent
    // connection is a race (ours closes it without a word; Node's header
    // timeout may answer it 408 first), and only "closed in time" matters.
    const silent = net.connect(url.port, "127.0.0.1").resume();
    const partial = net.connect(url.port, "127.0.0.1", () => partial.write("POST /v1/opamp HTTP/1.1\r\nHost: x\r\n"));
    const answered: Buffer[] = [];
    partial.on("data", (d: Buffer) => answered.push(d));
    const closedIn = (socket: net.Socket) => new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
    const started = Date.now();
    const [silentClosed, partialClosed] = await Promise.all([closedIn(silent), closedIn(partial)]);
    expect(silentClosed - started).toBeLessThan(3_000);
    expect(partialClosed - started).toBeLessThan(3_000);
    expect(Buffer.concat(answered).toString()).toMatch(/^HTTP\/1\.1 408/);
  });

  it("at --max-connections refuses new WebSocket and HTTP agents with 503 + Retry-After, and keeps serving the connected ones", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const url = await start(callbacks, undefined, { maxConnections: 2 });
    const ws = await wsAgent(url.ws);
    ws.send(framed(agentMessage()));
    await ws.reply(1);
    expect((await post(url.http, agentMessage({ instanceUid: otherUid(1) }))).status).toBe(200);

    expect(await upgradeRefusal(url.ws)).toEqual({ status: 503, retryAfter: "2" });
    const refused = await post(url.http, agentMessage({ instanceUid: otherUid(2) }));
    expect(refused.status).toBe(503);
    expect(refused.headers["retry-after"]).toBe("2");
    expect(refused.reply?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);

    // The two agents held are served as before.
    expect((await post(url.http, agentMessage({ instanceUid: otherUid(1), sequenceNum: 2n }))).status).toBe(200);
    ws.send(framed(agentMessage({ sequenceNum: 2n })));
    expect((await ws.reply(2)).flags).toBe(4n);
    expect(seen.connected).toHaveLength(2);
    ws.socket.close(1000);
  });

  it("refuses new agents over the per-source rate: HTTP with 429 + Retry-After, WebSocket with UNAVAILABLE + RetryInfo; admitted agents pass", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const url = await start(callbacks, undefined, { admission: new NewAgentAdmission({ perSource: 1, total: 0, now: () => 0 }) });
    expect((await post(url.http, agentMessage({ instanceUid: otherUid(1) }))).status).toBe(200);

    const overHttp = await post(url.http, agentMessage({ instanceUid: otherUid(2) }));
    expect(overHttp.status).toBe(429);
    expect(overHttp.headers["retry-after"]).toBe("2");
    expect(overHttp.reply?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);

    const ws = await wsAgent(url.ws);
    ws.send(framed(agentMessage({ instanceUid: otherUid(3) })));
    const overWs = await ws.reply(1);
    expect(overWs.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
    expect(overWs.errorResponse?.Details.case).toBe("retryInfo");
    expect(overWs.errorResponse?.Details.value?.retryAfterNanoseconds).toBe(2_000_000_000n);

    // The admitted agent keeps polling, and may come back over WebSocket.
    expect((await post(url.http, agentMessage({ instanceUid: otherUid(1), sequenceNum: 2n }))).status).toBe(200);
    ws.send(framed(agentMessage({ instanceUid: otherUid(1), sequenceNum: 3n })));
    expect((await ws.reply(2)).flags).toBe(4n);
    expect(seen.messages.map((m) => m.sequenceNum)).toEqual([0n, 2n, 3n]);
    ws.socket.close(1000);
  });
});

describe("the OpAMP transport in a flood of new agents", () => {
  it("at --max-connecting-agents refuses new sessions while that many first messages are unanswered (WebSocket UNAVAILABLE + RetryInfo, HTTP 503 + Retry-After), serves connected agents meanwhile, and admits again as answers go out", async () => {
    const { callbacks, seen } = recordingCallbacks();
    // First messages (sequence 0) wait at agent-service until let through; later ones are answered at once.
    let letThrough: () => void = () => {};
    let held = new Promise<void>((resolve) => (letThrough = resolve));
    const answer = callbacks.onMessage;
    const handedOn: number[] = [];
    callbacks.onMessage = async (conn, message) => {
      handedOn.push(message.instanceUid[0]!);
      if (message.sequenceNum === 0n) await held;
      return answer(conn, message);
    };
    const admission = new NewAgentAdmission({ perSource: 0, total: 0, connecting: 2 });
    const url = await start(callbacks, undefined, { admission });

    const first = await wsAgent(url.ws);
    first.send(framed(agentMessage({ instanceUid: otherUid(1) })));
    const firstPoll = post(url.http, agentMessage({ instanceUid: otherUid(2) }));
    await until(() => admission.connecting === 2, "two sessions connecting");

    const overWs = await wsAgent(url.ws);
    overWs.send(framed(agentMessage({ instanceUid: otherUid(3) })));
    const refusedWs = await overWs.reply(1);
    expect(refusedWs.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
    // Told to come back within half to one and a half times the retry interval (2 s here), spread so a flood does not return at once.
    const retryNs = refusedWs.errorResponse?.Details.value?.retryAfterNanoseconds ?? 0n;
    expect(retryNs >= 1_000_000_000n && retryNs <= 3_000_000_000n, `retry after ${retryNs} ns`).toBe(true);
    const refusedHttp = await post(url.http, agentMessage({ instanceUid: otherUid(4) }));
    expect(refusedHttp.status).toBe(503);
    expect(["1", "2", "3"]).toContain(refusedHttp.headers["retry-after"]);
    expect(refusedHttp.reply?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
    expect(handedOn).toEqual([1, 2]);
    expect(seen.refused).toHaveLength(1); // the WebSocket's (an HTTP agent refused has no session)

    // Answered, the two give their places back.
    letThrough();
    expect((await first.reply(1)).flags).toBe(4n);
    expect((await firstPoll).status).toBe(200);
    expect(admission.connecting).toBe(0);

    // The refused agents come back and take the places again; a connected agent is served meanwhile.
    held = new Promise<void>((resolve) => (letThrough = resolve));
    overWs.send(framed(agentMessage({ instanceUid: otherUid(3) })));
    const secondPoll = post(url.http, agentMessage({ instanceUid: otherUid(4) }));
    await until(() => admission.connecting === 2, "the refused two connecting");
    first.send(framed(agentMessage({ instanceUid: otherUid(1), sequenceNum: 1n })));
    expect((await first.reply(2)).flags).toBe(4n);
    expect((await post(url.http, agentMessage({ instanceUid: otherUid(2), sequenceNum: 1n }))).status).toBe(200);
    letThrough();
    expect((await overWs.reply(2)).flags).toBe(4n);
    expect((await secondPoll).status).toBe(200);
    expect(admission.connecting).toBe(0);
    first.socket.close(1000);
    overWs.socket.close(1000);
  });
});

describe("the OpAMP transport's upgrade backlog", () => {
  it("holds an upgrade beyond its places before the 101 until an upgraded agent's first message is answered (or its socket closes), refuses one beyond its queue with 503 + Retry-After, and serves plain HTTP meanwhile", async () => {
    const { callbacks } = recordingCallbacks();
    // Each first message (sequence 0) waits at agent-service until the test lets its agent (by UID) through.
    const gates = new Map<number, () => void>();
    const answer = callbacks.onMessage;
    const events: string[] = [];
    callbacks.onMessage = async (conn, message) => {
      const n = message.instanceUid[0]!;
      if (message.sequenceNum === 0n && n < 100) await new Promise<void>((resolve) => gates.set(n, resolve));
      return answer(conn, message);
    };
    const onConnected = callbacks.onConnected;
    let upgraded = 0;
    callbacks.onConnected = (conn) => {
      if (conn.id.includes("/ws/")) events.push(`101 #${++upgraded}`);
      onConnected(conn);
    };
    const warned: string[] = [];
    const warnings = new RateLimitedWarnings(silentLogger(), { count: (kind) => void warned.push(kind) }, 60_000);
    // Places held for a minute at most: only answers and closes give them back within this test.
    const url = await start(callbacks, undefined, { upgradeBacklog: { places: 2, waiting: 1, holdMs: 60_000 }, warnings });
    const letThrough = (n: number) => {
      events.push(`answered ${n}`);
      gates.get(n)!();
    };

    const one = await wsAgent(url.ws);
    const two = await wsAgent(url.ws);
    one.send(framed(agentMessage({ instanceUid: otherUid(1) })));
    two.send(framed(agentMessage({ instanceUid: otherUid(2) })));
    await until(() => gates.size === 2, "both first messages at agent-service");

    // The third waits for a place, before its 101; the fourth finds the queue full.
    const three = wsAgent(url.ws);
    await until(() => transport!.heldUpgrades === 1, "the third upgrade held");
    const refused = await upgradeRefusal(url.ws);
    expect(refused.status).toBe(503);
    // The retry hint of a session refused for --max-connecting-agents: half to one and a half times the retry interval (2 s).
    expect(["1", "2", "3"]).toContain(refused.retryAfter);
    expect(warned).toEqual(["connecting-limit"]);
    // Plain HTTP does not wait.
    expect((await post(url.http, agentMessage({ instanceUid: otherUid(200) }))).status).toBe(200);
    expect(upgraded).toBe(2);

    letThrough(1);
    expect((await one.reply(1)).flags).toBe(4n);
    const third = await three;
    expect(events).toEqual(["101 #1", "101 #2", "answered 1", "101 #3"]);
    expect(transport!.heldUpgrades).toBe(0);

    // The third's first message is pending too: two places taken again, so a fourth waits; the second agent closing before its answer gives its place.
    third.send(framed(agentMessage({ instanceUid: otherUid(3) })));
    await until(() => gates.size === 3, "the third's first message at agent-service");
    const four = wsAgent(url.ws);
    await until(() => transport!.heldUpgrades === 1, "the fourth upgrade held");
    expect(upgraded).toBe(3);
    two.socket.close(1000);
    const fourth = await four;
    expect(upgraded).toBe(4);

    letThrough(3);
    expect((await third.reply(1)).flags).toBe(4n);
    for (const agent of [one, third, fourth]) agent.socket.close(1000);
  });

  it("gives a silent WebSocket's place to the next upgrade once the place's hold is over, without closing it", async () => {
    const { callbacks } = recordingCallbacks();
    // The backlog's own clock, moved by the test: the hold lapses when the test says, whatever the machine's speed.
    let now = 0;
    const url = await start(callbacks, undefined, { upgradeBacklog: { places: 1, waiting: 1, holdMs: 200, now: () => now } });
    // Upgraded, then silent: no answer will give its place back.
    const silent = await wsAgent(url.ws);
    const next = wsAgent(url.ws);
    await until(() => transport!.heldUpgrades === 1, "the next upgrade held behind the silent one");
    now = 199;
    // A sweep before the hold is over passes nothing on (the sweep runs at least once a second).
    await until(() => transport!.heldUpgrades === 1, "still held");
    now = 200;
    // At the next sweep the place lapses and goes to the waiting upgrade.
    const second = await next;
    expect(transport!.heldUpgrades).toBe(0);
    expect(transport!.connectedWebSockets).toBe(2);
    // The silent one was not closed, and is answered when it speaks.
    silent.send(framed(agentMessage({ instanceUid: otherUid(1) })));
    expect((await silent.reply(1)).flags).toBe(4n);
    for (const agent of [silent, second]) agent.socket.close(1000);
  });
});

describe("the OpAMP transport's content limits", () => {
  const overLimit = () =>
    toBinary(
      AgentToServerSchema,
      create(AgentToServerSchema, {
        instanceUid: uid,
        agentDescription: { identifyingAttributes: ["a", "b", "c", "d"].map((key) => ({ key, value: { value: { case: "stringValue" as const, value: "v" } } })) },
      }),
    );

  it("answers a message over a limit with BAD_REQUEST naming the flag, over HTTP with 200, without handing it on", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const url = await start(callbacks);
    const poll = await post(url.http, overLimit());
    expect(poll.status).toBe(200);
    expect(poll.reply?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(poll.reply?.errorResponse?.errorMessage).toMatch(/more than 3 attributes.*--max-description-attributes/);

    const agent = await wsAgent(url.ws);
    agent.send(framed(overLimit()));
    expect((await agent.reply(1)).errorResponse?.errorMessage).toMatch(/--max-description-attributes/);
    expect(seen.readErrors.map((e) => e.name)).toEqual(["MessageOverLimitError", "MessageOverLimitError"]);
    expect(seen.messages).toHaveLength(0);
    agent.socket.close(1000);
  });
});

/** recordingCallbacks whose service holds the answer to sequence number 1 until `release()`. */
function holdingFirstMessage() {
  const recording = recordingCallbacks();
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const answer = recording.callbacks.onMessage;
  recording.callbacks.onMessage = async (conn, message) => {
    if (message.sequenceNum === 1n) await held;
    return answer(conn, message);
  };
  return { ...recording, release };
}

/**
 * An agent that sends one small message and then eleven of ~900 KB behind it
 * (more than WS_MAX_QUEUED_BYTES): with the first held, the rest queue and
 * reading stops. Resolves once the transport has the connection.
 */
async function floodBehindFirst(callbacks: OpampCallbacks, seen: { connected: AgentConnection[] }) {
  const size = 900_000;
  const url = await start(callbacks, undefined, { maxMessageBytes: 1024 * 1024 });
  const agent = await wsAgent(url.ws);
  agent.send(framed(agentMessage({ sequenceNum: 1n })));
  const big = (n: bigint) => framed(toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: uid, sequenceNum: n, customMessage: { capability: "c", type: "t", data: new Uint8Array(size) } })));
  for (let n = 2n; n <= 12n; n++) agent.send(big(n));
  await until(() => seen.connected.length === 1, "the connection");
  return { agent, size };
}

describe("a WebSocket that closes while its messages are being handled", () => {
  it("reports the close at once, and is settled only once the messages it sent before closing are handled", async () => {
    // The first message is held in the service; the second waits behind it.
    const { callbacks, seen, release } = holdingFirstMessage();
    const { ws } = await start(callbacks);
    const agent = await wsAgent(ws);
    agent.send(agentMessage({ sequenceNum: 1n }));
    agent.send(agentMessage({ sequenceNum: 2n }));
    await until(() => seen.messages.length === 0 && seen.connected.length === 1, "the connection");
    agent.socket.close();
    await until(() => seen.closed.length === 1, "the close");
    let settled = false;
    void seen.closed[0]!.settled().then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    release();
    await until(() => settled, "the connection to settle");
    // Both were handed on, in order, before it settled.
    expect(seen.messages.map((m) => m.sequenceNum)).toEqual([1n, 2n]);
  });

  it("does not close for missed heartbeats an agent whose heartbeats it does not read because the agent is still taking a large write", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const lines: string[] = [];
    const logger = { ...silentLogger(), info: (_fields: unknown, message: string) => void lines.push(message) };
    const liveness = { missedIntervals: 1, defaultIntervalMs: 300 };
    const url = await start(callbacks, undefined, { maxMessageBytes: 64 << 20, liveness, logger: logger as unknown as OpampTransportOptions["logger"] });
    const peer = await rawWebSocket(url.port);
    peer.send(framed(toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: uid, capabilities: 0x2001n }))));
    await until(() => peer.opcodes().length === 1, "the reply");
    const conn = seen.connected[0]! as unknown as WebSocketAgentConnection;
    const ws = webSocketOf(seen.connected[0]!);
    peer.socket.pause(); // a slow link: it has not taken our large write yet, and its heartbeats wait behind it unread
    const size = 32 << 20;
    const bulk = Buffer.concat([Buffer.from([0x82, 127]), Buffer.alloc(8), Buffer.alloc(size)]);
    bulk.writeBigUInt64BE(BigInt(size), 2);
    ws.write(bulk); // a large push (a configuration)
    expect(ws.pausedFor).toBe(PAUSED_FOR_WRITES);
    await until(() => conn.liveness.isOverdue(Date.now(), liveness), "its heartbeats overdue by the clock");
    const sweep = () => (transport as unknown as { expireSilentWebSockets(): void }).expireSilentWebSockets();
    for (let i = 0; i < 3; i++) sweep();
    expect(lines.filter((line) => line.includes("missed its heartbeats"))).toEqual([]);
    expect(conn.isOpen).toBe(true);
    peer.socket.destroy();
  });
});

/**
 * A raw TCP client that upgrades on `path` (headers `extra` added) and then
 * does only what the test tells it: it answers nothing, and reads only
 * while not paused. allowHalfOpen: it never ends its side by itself.
 */
async function rawWebSocket(port: number, o: { path?: string; extra?: string } = {}) {
  const socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  socket.on("error", () => {});
  const got: Buffer[] = [];
  socket.on("data", (d: Buffer) => got.push(d));
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(`GET ${o.path ?? "/v1/opamp"} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${o.extra ?? ""}\r\n`);
  await until(() => Buffer.concat(got).includes("\r\n\r\n"), "the answer to the upgrade");
  const all = () => Buffer.concat(got);
  return {
    socket,
    status: () => all().toString("latin1").split("\r\n")[0],
    /** The opcodes of the frames after the 101. */
    opcodes(): number[] {
      const bytes = all();
      const ops: number[] = [];
      for (let i = bytes.indexOf("\r\n\r\n") + 4; i + 2 <= bytes.length; ) {
        let length = bytes[i + 1]! & 0x7f;
        let head = 2;
        if (length === 126) [length, head] = [bytes.readUInt16BE(i + 2), 4];
        else if (length === 127) [length, head] = [Number(bytes.readBigUInt64BE(i + 2)), 10];
        if (i + head + length > bytes.length) break;
        ops.push(bytes[i]! & 0x0f);
        i += head + length;
      }
      return ops;
    },
    send: (payload: Uint8Array) => socket.write(frame(0x82, Buffer.from(payload))),
  };
}

describe("the OpAMP transport's refusals, shutdown and expiry", () => {
  it("closes the socket of an upgrade it refuses once the answer is out, so a peer that never ends its side holds nothing (404, 401, 503 at --max-connections)", async () => {
    const { callbacks } = recordingCallbacks();
    const accept = callbacks.onConnecting;
    callbacks.onConnecting = async (req) => (req.headers["x-token"] === "bad" ? { accept: false, status: 401, reason: "invalid token", headers: { "WWW-Authenticate": 'Bearer realm="opamp"' } } : accept(req));
    const url = await start(callbacks, undefined, { maxConnections: 1 });
    const server = (transport as unknown as { server: http.Server }).server;
    const connections = () => new Promise<number>((resolve) => server.getConnections((_err, n) => resolve(n)));
    const agent = await wsAgent(url.ws);
    agent.send(framed(agentMessage()));
    await agent.reply(1);
    const refused = [await rawWebSocket(url.port, { path: "/elsewhere" }), await rawWebSocket(url.port, { extra: "X-Token: bad\r\n" }), await rawWebSocket(url.port)];
    expect(refused.map((c) => c.status())).toEqual(["HTTP/1.1 404 Not Found", "HTTP/1.1 401 Unauthorized", "HTTP/1.1 503 Service Unavailable"]);
    // Only the agent's socket is left: the refused peers' sockets are closed on our side though theirs stay open.
    await expect.poll(connections).toBe(1);
    expect(refused.every((c) => !c.socket.destroyed)).toBe(true);
    for (const c of refused) c.socket.destroy();
    agent.socket.close(1000);
  });

  it("refuses with 503 + Retry-After an upgrade whose onConnecting was still running when close() began, and close() does not wait for it", async () => {
    const { callbacks, seen } = recordingCallbacks();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let connecting = 0;
    const accept = callbacks.onConnecting;
    callbacks.onConnecting = async (req) => {
      connecting++;
      await held;
      return accept(req);
    };
    const url = await start(callbacks);
    const refusal = upgradeRefusal(url.ws);
    await until(() => connecting === 1, "onConnecting to run");
    let closed = false;
    const closing = transport!.close(60_000).then(() => (closed = true));
    release();
    expect(await refusal).toEqual({ status: 503, retryAfter: "2" });
    await closing;
    expect(closed).toBe(true);
    expect(seen.connected).toHaveLength(0);
  });

  it("closes an agent that missed its heartbeats once: a sweep while the peer has not answered the close frame neither closes nor logs it again", async () => {
    const { callbacks } = recordingCallbacks();
    const lines: string[] = [];
    const logger = { ...silentLogger(), info: (_fields: unknown, message: string) => void lines.push(message) };
    const url = await start(callbacks, undefined, { liveness: { missedIntervals: 1, defaultIntervalMs: 300 }, logger: logger as unknown as OpampTransportOptions["logger"] });
    const peer = await rawWebSocket(url.port);
    const reportsHeartbeat = 0x2001n; // ReportsStatus | ReportsHeartbeat
    peer.send(framed(toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: uid, capabilities: reportsHeartbeat }))));
    await until(() => peer.opcodes().length === 1, "the reply");
    peer.socket.pause(); // hung: answers nothing, not even the close frame
    const missed = () => lines.filter((line) => line.includes("missed its heartbeats")).length;
    await until(() => missed() === 1, "the close for missed heartbeats");
    const sweep = () => (transport as unknown as { expireSilentWebSockets(): void }).expireSilentWebSockets();
    for (let i = 0; i < 3; i++) sweep();
    expect(missed()).toBe(1);
    expect(transport!.connectedWebSockets, "held until the peer answers or the close timer ends it").toBe(1);
    peer.socket.destroy();
  });
});

/** The WebSocket under a connection the callbacks were given. */
const webSocketOf = (conn: AgentConnection) => (conn as unknown as { socket: ServerWebSocket }).socket;

/** A few turns of the event loop: any read the server was free to make in between has been made. */
async function loopTurns(): Promise<void> {
  for (let i = 0; i < 6; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("the OpAMP transport's WebSocket bounds", () => {
  it("stops reading from a WebSocket whose peer sends and never reads, instead of buffering its replies, and reads again once the peer reads", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const url = await start(callbacks);
    const peer = await rawWebSocket(url.port);
    await until(() => seen.connected.length === 1, "the connection");
    const ws = webSocketOf(seen.connected[0]!);
    peer.socket.pause(); // reads none of our replies
    // Each 7-byte frame is no OpAMP message: every one is answered with a BadRequest of ~100 bytes.
    const batch = Buffer.concat(Array.from({ length: 10_000 }, () => frame(0x82, Buffer.of(1))));
    for (let i = 0; i < 200 && (ws.pausedFor & PAUSED_FOR_WRITES) === 0; i++) {
      peer.socket.write(batch);
      await loopTurns();
    }
    expect(ws.pausedFor).toBe(PAUSED_FOR_WRITES);
    // Held to what the read that filled the buffer asked for, far below what the peer sent.
    expect(ws.socket.writableLength).toBeLessThan(LIMIT + 1024 * 1024);
    const answered = seen.readErrors.length;
    peer.socket.write(batch);
    await loopTurns();
    expect(seen.readErrors.length, "nothing read while our replies wait").toBe(answered);
    peer.socket.resume();
    await until(() => seen.readErrors.length > answered, "reading to go on once the peer reads");
    expect(ws.readyState).toBe(1);
    peer.socket.destroy();
  });

  it("terminates a WebSocket whose peer does not read once more than --max-message-bytes + 1 MiB of our frames wait, with an unread-replies warning", async () => {
    const { callbacks, seen } = recordingCallbacks();
    const kinds: string[] = [];
    const url = await start(callbacks, undefined, { warnings: new RateLimitedWarnings(silentLogger(), { count: (kind) => void kinds.push(kind) }, 60_000) });
    const peer = await rawWebSocket(url.port);
    peer.send(framed(agentMessage()));
    await until(() => peer.opcodes().length === 1, "the first reply");
    peer.socket.pause();
    const conn = seen.connected[0]!;
    const push = serverToAgent(uid, SERVER_CAPABILITIES, { errorResponse: { errorMessage: "x".repeat(LIMIT - 100) } });
    let pushed = 0;
    while (seen.closed.length === 0 && pushed < 100_000) {
      await conn.push(push).catch(() => {});
      if (++pushed % 100 === 0) await loopTurns();
    }
    await until(() => seen.closed.length === 1, "the close");
    expect(kinds).toEqual(["unread-replies"]);
    // Well past the bound's worth of pushes had it not held: (4 KiB + 1 MiB) / 4 KiB ≈ 260 frames unsent.
    expect(pushed).toBeLessThan(2_000);
    peer.socket.destroy();
  });

  it("stops reading from a WebSocket whose queued messages reach WS_MAX_QUEUED_BYTES, well before 32 of them, and handles them all in order once the one before them is answered", async () => {
    const { callbacks, seen, release } = holdingFirstMessage();
    const { agent, size } = await floodBehindFirst(callbacks, seen);
    const conn = seen.connected[0] as unknown as { waiting?: unknown[]; waitingBytes: number };
    const ws = webSocketOf(seen.connected[0]!);
    await until(() => ws.pausedFor === PAUSED_FOR_QUEUE, "reading to stop");
    expect(conn.waitingBytes).toBeGreaterThanOrEqual(WS_MAX_QUEUED_BYTES);
    expect(conn.waiting!.length).toBeLessThanOrEqual(Math.ceil(WS_MAX_QUEUED_BYTES / size));
    const queued = conn.waiting!.length;
    await loopTurns();
    expect(conn.waiting!.length, "nothing more read meanwhile").toBe(queued);
    release();
    for (let n = 1; n <= 12; n++) await agent.reply(n);
    expect(seen.messages.map((m) => m.sequenceNum)).toEqual(Array.from({ length: 12 }, (_, i) => BigInt(i + 1)));
    expect(ws.pausedFor).toBe(0);
    expect(conn.waitingBytes).toBe(0);
    agent.socket.close(1000);
  });

  it("closes with 1011 when handling a message fails while reading is paused behind it, and reads again: the peer's close frame ends the socket, not the 30 s close timeout", async () => {
    const { callbacks, seen } = recordingCallbacks();
    // A bug's stand-in: the service's answer to the first message fails, once the queue behind it is full.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let handled = 0;
    callbacks.onMessage = async () => {
      handled++;
      await held;
      throw new Error("a bug");
    };
    const { agent } = await floodBehindFirst(callbacks, seen);
    const ws = webSocketOf(seen.connected[0]!);
    await until(() => ws.pausedFor === PAUSED_FOR_QUEUE, "reading to stop");
    let code: number | undefined;
    void agent.closed.then((c) => (code = c));
    release();
    // until() gives up after 5 s, well inside CLOSE_TIMEOUT_MS: the agent's side ends once its close frame is read.
    await until(() => code !== undefined, "the agent's side to end");
    expect(code).toBe(1011);
    await until(() => seen.closed.length === 1, "the server's side to end");
    // What waited behind the failed message, and what the peer sent after, was dropped: nothing answers on a closed socket.
    expect(handled).toBe(1);
  });
});
