import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AgentToServerSchema,
  ServerErrorResponseType,
  ServerToAgentSchema,
  type AgentToServer,
  type ServerToAgent,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { OutboundMessageTooLargeError, SERVER_CAPABILITIES, errorReply, serverCapabilities, serverToAgent } from "@fleetplane/opamp";
import { silentLogger } from "@fleetplane/platform/logger";
import * as http from "node:http";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { AgentConnection } from "./agent-connection.js";
import { AnnouncedCapabilities } from "./announced-capabilities.js";
import { InboundMessageTooLargeError } from "./inbound-message-too-large.js";
import type { OpampCallbacks } from "./opamp-callbacks.js";
import { OpampTransport } from "./opamp-transport.js";
import { MalformedFrameError } from "./ws-framing.js";

const LIMIT = 4096;
const uid = new Uint8Array(16).fill(9);
/** Asks the test service for a reply over the size limit. */
const HUGE_REPLY = 99n;
/** Asks the test service for a BAD_REQUEST, or an UNAVAILABLE with a 2 s retry hint. */
const BAD_REQUEST = 98n;
const UNAVAILABLE = 97n;

/** Callbacks that answer every message with flags 4 and record what the transport told them. */
function recordingCallbacks(o: { readErrorReply?: boolean } = {}) {
  const seen = { messages: [] as AgentToServer[], readErrors: [] as Error[], responseErrors: [] as Error[], connected: [] as AgentConnection[], closed: [] as AgentConnection[] };
  const callbacks: OpampCallbacks = {
    onConnecting: () => ({ accept: true }),
    onConnected: (conn) => void seen.connected.push(conn),
    onMessage: async (_conn, message) => {
      seen.messages.push(message);
      if (message.sequenceNum === HUGE_REPLY) return serverToAgent(message.instanceUid, SERVER_CAPABILITIES, { errorResponse: { errorMessage: "x".repeat(LIMIT) } });
      if (message.sequenceNum === BAD_REQUEST) return errorReply(message.instanceUid, SERVER_CAPABILITIES, ServerErrorResponseType.ServerErrorResponseType_BadRequest, "refused");
      if (message.sequenceNum === UNAVAILABLE) return errorReply(message.instanceUid, SERVER_CAPABILITIES, ServerErrorResponseType.ServerErrorResponseType_Unavailable, "later", 2_000);
      return serverToAgent(message.instanceUid, SERVER_CAPABILITIES, { flags: 4n });
    },
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

async function start(callbacks: OpampCallbacks, capabilities = new AnnouncedCapabilities()): Promise<{ ws: string; http: string }> {
  transport = new OpampTransport(
    {
      host: "127.0.0.1",
      port: 0,
      paths: ["/v1/opamp"],
      maxMessageBytes: LIMIT,
      wsPingIntervalMs: 0,
      liveness: { missedIntervals: 3, defaultIntervalMs: 30_000 },
      capabilities,
      gatewayId: "gw",
      logger: silentLogger(),
    },
    callbacks,
  );
  const port = await transport.listen();
  return { ws: `ws://127.0.0.1:${port}/v1/opamp`, http: `http://127.0.0.1:${port}/v1/opamp` };
}

const agentMessage = (fields: Partial<{ sequenceNum: bigint }> = {}) => toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: uid, ...fields }));

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
    expect(seen.connected.map((c) => c.id)).toEqual([expect.stringMatching(/^gw\/ws\//), `gw/http/${Buffer.from(uid).toString("hex")}`]);
    agent.socket.close(1000);
    expect(await agent.closed).toBe(1000);
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
