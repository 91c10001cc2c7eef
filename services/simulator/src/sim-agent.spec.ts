import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AgentCapabilities, AgentToServerSchema, ServerErrorResponseType, ServerToAgentSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import http from "node:http";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { LatencyHistogram } from "./latency.js";
import { SimAgent, type SimStats } from "./sim-agent.js";

const RETRY_MS = 300;

const frame = (m: Parameters<typeof create<typeof ServerToAgentSchema>>[1]) => Buffer.concat([Buffer.from([0]), toBinary(ServerToAgentSchema, create(ServerToAgentSchema, m))]);

describe("SimAgent over WebSocket, refused with UNAVAILABLE and RetryInfo", () => {
  let wss: WebSocketServer | undefined;
  let agent: SimAgent | undefined;
  afterEach(async () => {
    agent?.stop();
    await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
  });

  it("closes the refused socket itself and connects again after the wait it was told, not before", async () => {
    wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    const sockets: { opened: number; closedByClient?: number }[] = [];
    let refusedAt = 0;
    wss.on("connection", (ws: WebSocket) => {
      const record: { opened: number; closedByClient?: number } = { opened: Date.now() };
      sockets.push(record);
      ws.on("close", (code) => (record.closedByClient = code));
      ws.once("message", () => {
        if (sockets.length === 1) {
          refusedAt = Date.now();
          // The socket is left open: closing it is the agent's part.
          ws.send(frame({ errorResponse: { type: ServerErrorResponseType.ServerErrorResponseType_Unavailable, errorMessage: "too many connecting agents", Details: { case: "retryInfo", value: { retryAfterNanoseconds: BigInt(RETRY_MS) * 1_000_000n } } } }));
        } else ws.send(frame({}));
      });
    });
    await new Promise((r) => wss!.once("listening", r));
    const { port } = wss.address() as { port: number };

    const stats: SimStats = { connected: 0, connects: 0, connectFailures: 0, disconnects: 0, sent: 0, received: 0, bytesSent: 0, bytesReceived: 0, errorResponses: 0, transportErrors: 0, configsApplied: 0, configsFailed: 0, restarts: 0, latency: new LatencyHistogram() };
    let answered = 0;
    agent = new SimAgent({ url: `ws://127.0.0.1:${port}/v1/opamp`, transport: "ws", index: 0, intervalMs: 60_000, jitter: 0, closedLoop: false, gzip: false, failMarker: "", stats, httpAgent: new http.Agent(), onFirstReply: () => answered++ });
    agent.start();

    // An answer on a second connection.
    await vi.waitFor(() => expect(answered).toBe(1), { timeout: 5_000, interval: 10 });
    expect(stats.errorResponses).toBe(1);
    expect(sockets).toHaveLength(2);
    expect(sockets[0]!.closedByClient).toBe(1000);
    expect(sockets[1]!.opened - refusedAt).toBeGreaterThanOrEqual(RETRY_MS - 5); // timers may fire a few ms early by the wall clock
  });
});

describe("SimAgent's capabilities", () => {
  let wss: WebSocketServer | undefined;
  const agents: SimAgent[] = [];
  afterEach(async () => {
    for (const a of agents.splice(0)) a.stop();
    await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
  });

  it("claims ReportsHeartbeat over WebSocket only when it reports at least every 30 s (the spec's heartbeat), so the gateway does not close a quiet agent as dead", async () => {
    wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    const claims = new Map<number, bigint>();
    wss.on("connection", (ws: WebSocket) =>
      ws.once("message", (data: Buffer) => {
        const m = fromBinary(AgentToServerSchema, data.subarray(1));
        const index = Number(m.agentDescription!.nonIdentifyingAttributes.find((a) => a.key === "host.name")!.value!.value.value!.toString().replace("sim-host-", ""));
        claims.set(index, m.capabilities);
        ws.send(frame({}));
      }),
    );
    await new Promise((r) => wss!.once("listening", r));
    const { port } = wss.address() as { port: number };
    const stats: SimStats = { connected: 0, connects: 0, connectFailures: 0, disconnects: 0, sent: 0, received: 0, bytesSent: 0, bytesReceived: 0, errorResponses: 0, transportErrors: 0, configsApplied: 0, configsFailed: 0, restarts: 0, latency: new LatencyHistogram() };
    // host.name is sim-host-<index / 8>: indexes 0 and 8 tell the two agents apart.
    for (const [index, intervalMs] of [[0, 30_000], [8, 300_000]] as const) {
      const agent = new SimAgent({ url: `ws://127.0.0.1:${port}/v1/opamp`, transport: "ws", index, intervalMs, jitter: 0.1, closedLoop: false, gzip: false, failMarker: "", stats, httpAgent: new http.Agent() });
      agents.push(agent);
      agent.start();
    }
    await vi.waitFor(() => expect(claims.size).toBe(2), { timeout: 5_000, interval: 10 });
    const heartbeat = BigInt(AgentCapabilities.AgentCapabilities_ReportsHeartbeat);
    expect(claims.get(0)! & heartbeat).toBe(heartbeat);
    expect(claims.get(1)! & heartbeat).toBe(0n);
    // Everything else a collector claims, the quiet one claims too.
    expect(claims.get(1)! | heartbeat).toBe(claims.get(0));
  });
});
