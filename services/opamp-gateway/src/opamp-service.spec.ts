import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import { AgentToServerSchema, ServerErrorResponseType, type ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { Logger } from "@fleetplane/platform";
import { describe, expect, it, vi } from "vitest";
import type { AgentConnection } from "./agent-connection.js";
import { NO_CREDENTIALS } from "./agent-authentication.js";
import { AgentLiveness } from "./agent-liveness.js";
import { AnnouncedCapabilities } from "./announced-capabilities.js";
import { CleanupQueue } from "./cleanup-queue.js";
import { ConnectionTracker } from "./connection-tracker.js";
import { OpampService } from "./opamp-service.js";
import { RateLimitedWarnings, type WarningKind } from "./rate-limited-warnings.js";
import { WebSocketRegistry } from "./websocket-registry.js";
import { MalformedFrameError } from "./ws-framing.js";

/** A logger that keeps its warn lines (and drops the rest). */
function capturingLogger() {
  const warned: string[] = [];
  const ignore = () => {};
  const logger = { warn: (_fields: unknown, msg: string) => void warned.push(msg), info: ignore, debug: ignore, error: ignore } as unknown as Logger;
  return { logger, warned };
}

/** An OpampService over `agents` (agent-service's client as the gateway sees it). */
function serviceOver(agents: Client<typeof AgentGatewayService>, o: { logger: Logger; cleanup?: CleanupQueue; count?: (kind: WarningKind) => void; leaseCurrent?: () => Promise<void>; heartbeatReportMs?: number }): OpampService {
  return new OpampService({
    agents,
    connections: new ConnectionTracker("gw", agents),
    registry: new WebSocketRegistry(),
    cleanup: o.cleanup ?? new CleanupQueue(o.logger),
    capabilities: new AnnouncedCapabilities(),
    logger: o.logger,
    warnings: new RateLimitedWarnings(o.logger, { count: o.count ?? (() => {}) }, 60_000),
    retryAfterMs: 1_000,
    ...(o.leaseCurrent ? { leaseCurrent: o.leaseCurrent } : {}),
    ...(o.heartbeatReportMs !== undefined ? { heartbeatReportMs: o.heartbeatReportMs } : {}),
  });
}

/** An OpampService whose agent-service refuses every report as `code`. */
function service(code: Code) {
  const { logger, warned } = capturingLogger();
  const counted: WarningKind[] = [];
  const refuse = () => Promise.reject(new ConnectError("refused", code));
  const agents = {
    reportMessages: refuse,
    reportMessage: refuse,
    saveConnection: async () => ({}),
    deleteConnection: async () => ({}),
  } as unknown as Client<typeof AgentGatewayService>;
  const svc = serviceOver(agents, { logger, count: (k) => void counted.push(k) });
  return { svc, warned, counted };
}

const conn = (n: number): AgentConnection => ({
  id: `gw/http/${n}`,
  type: ConnectionType.HTTP,
  remoteAddress: `10.0.0.1:${40_000 + n}`,
  openedAt: Date.now(),
  endpoint: "http://gw/v1/opamp",
  credentials: NO_CREDENTIALS,
  agent: "",
  liveness: new AgentLiveness(Date.now()),
  push: () => Promise.resolve(),
  close: () => {},
  settled: () => Promise.resolve(),
});

describe("the OpAMP service's warnings about agent input", () => {
  it("write one line per kind and source address per interval however much malformed input comes, and count all of it", async () => {
    const { svc, warned, counted } = service(Code.InvalidArgument);
    for (let i = 0; i < 50; i++) {
      expect(svc.onReadMessageError(conn(i), new MalformedFrameError("not protobuf"))?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
      const shortUid = (await svc.onMessage(conn(i), create(AgentToServerSchema, { instanceUid: new Uint8Array(3) }))) as ServerToAgent;
      expect(shortUid.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
      const refused = (await svc.onMessage(conn(i), create(AgentToServerSchema, { instanceUid: new Uint8Array(16).fill(i + 1) }))) as ServerToAgent;
      expect(refused.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    }
    expect(warned).toEqual(["could not read agent message", "rejected message: instance_uid is not 16 bytes", "agent message rejected"]);
    expect(counted.filter((k) => k === "unreadable-message")).toHaveLength(50);
    expect(counted.filter((k) => k === "bad-instance-uid")).toHaveLength(50);
    expect(counted.filter((k) => k === "rejected-message")).toHaveLength(50);
  });

  it("about agent-service being down write one line per source per interval too", async () => {
    const { svc, warned, counted } = service(Code.Unavailable);
    for (let i = 0; i < 20; i++) {
      const reply = (await svc.onMessage(conn(i), create(AgentToServerSchema, { instanceUid: new Uint8Array(16).fill(i + 1) }))) as ServerToAgent;
      expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
    }
    expect(warned).toEqual(["agent-service unavailable; told agent to retry"]);
    expect(counted).toHaveLength(20);
  });
});

/** An OpampService whose agent-service records, in order, the reports and disconnects it is asked for. */
function recordingService(cleanup: CleanupQueue, replyUid: Uint8Array) {
  const { logger } = capturingLogger();
  const calls: string[] = [];
  const agents = {
    markDisconnected: async (req: { connectionId: string }) => (calls.push(`disconnect ${req.connectionId}`), { disconnected: true }),
    reportMessages: async (req: { reports: Array<{ connection: { id: string } }> }) => {
      for (const r of req.reports) calls.push(`report ${r.connection.id}`);
      return { results: req.reports.map(() => ({ reply: { instanceUid: replyUid }, heartbeatIntervalSeconds: 0n })) };
    },
    saveConnection: async () => ({}),
    deleteConnection: async () => ({}),
  } as unknown as Client<typeof AgentGatewayService>;
  const svc = serviceOver(agents, { logger, cleanup });
  return { svc, calls };
}

describe("an agent that restarts and reconnects before its old socket's cleanup ran", () => {
  it("has its old connection marked disconnected before its first message on the new one is reported", async () => {
    const held: Array<() => Promise<void>> = [];
    // A backlogged cleanup queue: nothing it is given runs during the test.
    const cleanup = { enqueue: (_what: string, task: () => Promise<void>) => void held.push(task) } as unknown as CleanupQueue;
    const uid = new Uint8Array(16).fill(9);
    const { svc, calls } = recordingService(cleanup, uid);
    const websocket = (id: string): AgentConnection => ({ ...conn(0), id, type: ConnectionType.WEBSOCKET });
    const old = websocket("gw/ws/old");
    svc.onConnected(old);
    await svc.onMessage(old, create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 0n }));
    svc.onConnectionClose(old);

    const fresh = websocket("gw/ws/new");
    svc.onConnected(fresh);
    await svc.onMessage(fresh, create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 0n }));
    expect(calls).toEqual(["report gw/ws/old", "disconnect gw/ws/old", "report gw/ws/new"]);
    expect(held).toHaveLength(1);
  });
});

describe("a WebSocket that closes while its last message is still being handled", () => {
  it("is marked disconnected only after that message's report is stored, so the report cannot undo the disconnect", async () => {
    const cleanup = new CleanupQueue(capturingLogger().logger);
    const uid = new Uint8Array(16).fill(7);
    const { svc, calls } = recordingService(cleanup, uid);
    // The transport is still handling the socket's last message when it closes.
    let finishHandling!: () => void;
    const handling = new Promise<void>((resolve) => (finishHandling = resolve));
    const socket: AgentConnection = { ...conn(0), id: "gw/ws/last", type: ConnectionType.WEBSOCKET, settled: () => handling };
    svc.onConnected(socket);
    await svc.onMessage(socket, create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 0n }));
    svc.onConnectionClose(socket);
    // The cleanup queue runs at once, but waits for the message in hand.
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual(["report gw/ws/last"]);

    await svc.onMessage(socket, create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 1n }));
    finishHandling();
    expect(await cleanup.drain(5_000)).toBe(true);
    expect(calls).toEqual(["report gw/ws/last", "report gw/ws/last", "disconnect gw/ws/last"]);
  });
});

describe("a new agent's first message", () => {
  /** An OpampService whose agent-service records its calls; `echoesSave`: it knows save_connection (else it ignores it, as one from before the field). */
  function service(echoesSave: boolean, leaseCurrent?: () => Promise<void>) {
    const calls: string[] = [];
    const agents = {
      reportMessages: async (req: { reports: Array<{ connection: { id: string }; message: { sequenceNum: bigint }; saveConnection?: boolean }> }) => {
        for (const r of req.reports) calls.push(`report ${r.message.sequenceNum}${r.saveConnection ? " saving its connection" : ""}`);
        return { results: req.reports.map((r) => ({ reply: { instanceUid: new Uint8Array(16) }, heartbeatIntervalSeconds: 0n, connectionSaved: echoesSave && Boolean(r.saveConnection) })) };
      },
      saveConnection: async (req: { connection: { instanceUid: Uint8Array } }) => void calls.push(`save connection of ${req.connection.instanceUid[0]}`),
      deleteConnection: async () => ({}),
    } as unknown as Client<typeof AgentGatewayService>;
    return { svc: serviceOver(agents, { logger: capturingLogger().logger, ...(leaseCurrent ? { leaseCurrent } : {}) }), calls };
  }

  it("is one call to agent-service, its report carrying the connection's save; later messages carry none", async () => {
    const { svc, calls } = service(true);
    const ws: AgentConnection = { ...conn(0), id: "gw/ws/first", type: ConnectionType.WEBSOCKET };
    svc.onConnected(ws);
    const uid = new Uint8Array(16).fill(3);
    await svc.onMessage(ws, create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 0n }));
    await svc.onMessage(ws, create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 1n }));
    expect(calls).toEqual(["report 0 saving its connection", "report 1"]);
  });

  it("saves its connection once even when its report waits past the anonymous save's delay (a lease renewal held up by a slow store)", async () => {
    // Timeouts only: the report batcher's setImmediate runs as usual.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      let leaseRenewed!: () => void;
      const { svc, calls } = service(true, () => new Promise<void>((resolve) => (leaseRenewed = resolve)));
      const ws: AgentConnection = { ...conn(2), id: "gw/ws/slow", type: ConnectionType.WEBSOCKET };
      svc.onConnected(ws);
      const answered = svc.onMessage(ws, create(AgentToServerSchema, { instanceUid: new Uint8Array(16).fill(6), sequenceNum: 0n }));
      // The first message named the connection and waits on the lease, longer than the anonymous save waits.
      await vi.advanceTimersByTimeAsync(60_000);
      leaseRenewed();
      await answered;
      await vi.advanceTimersByTimeAsync(60_000);
      expect(calls).toEqual(["report 0 saving its connection"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("still has its connection saved by an agent-service that does not save it with the report", async () => {
    const { svc, calls } = service(false);
    const ws: AgentConnection = { ...conn(1), id: "gw/ws/older", type: ConnectionType.WEBSOCKET };
    svc.onConnected(ws);
    await svc.onMessage(ws, create(AgentToServerSchema, { instanceUid: new Uint8Array(16).fill(4), sequenceNum: 0n }));
    expect(calls).toEqual(["report 0 saving its connection", "save connection of 4"]);
  });
});

describe("the connection record of a named agent", () => {
  it("holds a copy of the instance UID, not a view of the frame it came in (that would keep the whole frame while the agent is connected)", async () => {
    const uid = new Uint8Array(16).fill(5);
    const frame = Buffer.alloc(2048);
    frame.set(uid, 7);
    const { logger } = capturingLogger();
    const agents = {
      reportMessages: async (req: { reports: unknown[] }) => ({ results: req.reports.map(() => ({ reply: { instanceUid: uid }, heartbeatIntervalSeconds: 0n })) }),
      saveConnection: async () => ({}),
      deleteConnection: async () => ({}),
    } as unknown as Client<typeof AgentGatewayService>;
    const connections = new ConnectionTracker("gw", agents);
    const svc = new OpampService({
      agents,
      connections,
      registry: new WebSocketRegistry(),
      cleanup: new CleanupQueue(logger),
      capabilities: new AnnouncedCapabilities(),
      logger,
      warnings: new RateLimitedWarnings(logger, { count: () => {} }, 60_000),
      retryAfterMs: 1_000,
    });
    const socket: AgentConnection = { ...conn(0), id: "gw/ws/named", type: ConnectionType.WEBSOCKET };
    svc.onConnected(socket);
    // As decodeAgentFrame hands it on: a Buffer view (Buffer's slice() would be a view too).
    await svc.onMessage(socket, create(AgentToServerSchema, { instanceUid: frame.subarray(7, 23), sequenceNum: 0n }));
    const recorded = connections.get("gw/ws/named")?.instanceUid;
    expect([...(recorded ?? [])]).toEqual([...uid]);
    expect(recorded?.buffer).not.toBe(frame.buffer);
  });
});

describe("heartbeats the gateway answers itself", () => {
  it("answers them once agent-service allows it, reports them with the next other message, and reports the rest before the agent's disconnect", async () => {
    const { logger } = capturingLogger();
    const calls: string[] = [];
    const uid = new Uint8Array(16).fill(6);
    const agents = {
      reportMessages: async (req: { reports: Array<{ message: { sequenceNum: bigint }; heartbeatsAnswered: bigint }> }) => {
        for (const r of req.reports) calls.push(`report ${r.message.sequenceNum} after ${r.heartbeatsAnswered}`);
        return { results: req.reports.map(() => ({ reply: { instanceUid: uid }, heartbeatIntervalSeconds: 0n, connectionSaved: true, acknowledgesHeartbeats: true })) };
      },
      markDisconnected: async () => (calls.push("disconnect"), { disconnected: true }),
      saveConnection: async () => ({}),
      deleteConnection: async () => ({}),
    } as unknown as Client<typeof AgentGatewayService>;
    const cleanup = new CleanupQueue(logger);
    // No report of its own for a heartbeat however slowly this runs: what rides where is the point here.
    const svc = serviceOver(agents, { logger, cleanup, heartbeatReportMs: 3_600_000 });
    const ws: AgentConnection = { ...conn(0), id: "gw/ws/beats", type: ConnectionType.WEBSOCKET };
    const beat = (sequenceNum: bigint, o: { flags?: bigint } = {}) => create(AgentToServerSchema, { instanceUid: uid, sequenceNum, capabilities: 1n, ...o });
    svc.onConnected(ws);
    expect(svc.answerHeartbeat(ws, beat(0n)), "not before agent-service said so").toBeUndefined();
    await svc.onMessage(ws, beat(0n));
    expect(svc.answerHeartbeat(ws, beat(1n))?.instanceUid).toEqual(uid);
    expect(svc.answerHeartbeat(ws, beat(2n))?.instanceUid).toEqual(uid);
    // Anything else goes to agent-service, with the two answered before it.
    expect(svc.answerHeartbeat(ws, beat(3n, { flags: 1n }))).toBeUndefined();
    await svc.onMessage(ws, beat(3n, { flags: 1n }));
    expect(svc.answerHeartbeat(ws, beat(4n))).toBeDefined();
    svc.onConnectionClose(ws);
    expect(await cleanup.drain(5_000)).toBe(true);
    svc.stop();
    expect(calls).toEqual(["report 0 after 0", "report 3 after 2", "report 4 after 0", "disconnect"]);
  });
});
