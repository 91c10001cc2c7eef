import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { ConnectionSchema, ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentToServerSchema, RemoteConfigStatusSchema, ServerToAgentFlags, type AgentToServer, type ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { SERVER_CAPABILITIES, serverToAgent } from "@fleetplane/opamp";
import { silentLogger } from "@fleetplane/platform";
import type { AgentConnection } from "./agent-connection.js";
import { AgentLiveness } from "./agent-liveness.js";
import { HeartbeatAnswers } from "./heartbeat-answers.js";
import { ReportBatcher, type ReportResult } from "./report-batcher.js";

const uid = new Uint8Array(16).fill(9);
const caps = 0x2003n;
const heartbeat = (sequenceNum: bigint, o: MessageInitShape<typeof AgentToServerSchema> = {}) => create(AgentToServerSchema, { instanceUid: uid, sequenceNum, capabilities: caps, ...o });
const ack = serverToAgent(uid, SERVER_CAPABILITIES);
const allowed: ReportResult = { reply: ack, heartbeatIntervalSeconds: 30n, connectionSaved: false, acknowledgesHeartbeats: true };

/** A HeartbeatAnswers whose reports go to `answer` (by default: the acknowledgement, allowed again), recorded. */
function setup(answer: (message: AgentToServer) => ReportResult | Promise<ReportResult> = () => allowed, leaseHeld?: () => boolean, flushMs = 3_600_000) {
  const reports: Array<{ seq: bigint; before: bigint }> = [];
  const pushed: ServerToAgent[] = [];
  const answers = new HeartbeatAnswers({
    report: async (_c, message, _save, before) => {
      reports.push({ seq: message.sequenceNum, before });
      return answer(message);
    },
    logger: silentLogger(),
    leaseHeld,
    flushMs,
  });
  onTestFinished(() => answers.stop());
  const conn = { id: "gw/ws/1", type: ConnectionType.WEBSOCKET, liveness: new AgentLiveness(Date.now()), push: async (m: ServerToAgent) => void pushed.push(m) } as unknown as AgentConnection;
  const record = create(ConnectionSchema, { id: conn.id, type: ConnectionType.WEBSOCKET, instanceUid: uid });
  /** agent-service answered message `seq` (sent at generation `g`, now by default) with `result`. */
  const decided = (seq: bigint, result: ReportResult = allowed, g = answers.generation(conn.id)) => answers.decided(conn, record, heartbeat(seq), result, g);
  return { answers, conn, record, reports, pushed, decided };
}

describe("heartbeats answered in the gateway", () => {
  it("answers nothing until agent-service allows it, then bare heartbeats in sequence with its acknowledgement", () => {
    const t = setup();
    expect(t.answers.answer(t.conn, heartbeat(1n))).toBeUndefined();
    t.decided(1n, { ...allowed, acknowledgesHeartbeats: false });
    expect(t.answers.answer(t.conn, heartbeat(2n))).toBeUndefined();
    t.decided(2n);
    expect(t.answers.answer(t.conn, heartbeat(3n))).toBe(ack);
    expect(t.answers.answer(t.conn, heartbeat(4n))).toBe(ack);
  });

  it("sends a sequence-number gap, any other content, other capabilities or another instance UID on to agent-service", () => {
    const t = setup();
    t.decided(1n);
    expect(t.answers.answer(t.conn, heartbeat(3n)), "gap").toBeUndefined();
    expect(t.answers.answer(t.conn, heartbeat(1n)), "repeat").toBeUndefined();
    expect(t.answers.answer(t.conn, heartbeat(2n, { remoteConfigStatus: create(RemoteConfigStatusSchema) })), "content").toBeUndefined();
    expect(t.answers.answer(t.conn, heartbeat(2n, { capabilities: caps | 0x4n })), "capabilities").toBeUndefined();
    expect(t.answers.answer(t.conn, heartbeat(2n, { instanceUid: new Uint8Array(16).fill(1) })), "uid").toBeUndefined();
    expect(t.answers.answer(t.conn, heartbeat(2n))).toBe(ack);
  });

  it("reports the answered heartbeats once per flush: the last as the message, the others counted before it", async () => {
    const t = setup();
    t.decided(1n);
    for (const seq of [2n, 3n, 4n]) t.answers.answer(t.conn, heartbeat(seq));
    t.answers.flush();
    await t.answers.closed(t.conn.id);
    expect(t.reports).toEqual([{ seq: 4n, before: 2n }]);
  });

  it("reports an agent at the spec's 30 s at the next flush, not at once, with every other connection's in one ReportMessages call", async () => {
    const calls: number[] = [];
    const agents = {
      reportMessages: async (req: { reports: unknown[] }) => {
        calls.push(req.reports.length);
        return { results: req.reports.map(() => ({ reply: ack, heartbeatIntervalSeconds: 30n, connectionSaved: false, acknowledgesHeartbeats: true })) };
      },
    } as unknown as ConstructorParameters<typeof ReportBatcher>[0];
    const batcher = new ReportBatcher(agents);
    // Only the clock is faked: the batcher's turn (setImmediate) runs for real.
    vi.useFakeTimers({ toFake: ["Date"] });
    onTestFinished(() => void vi.useRealTimers());
    const answers = new HeartbeatAnswers({ report: (c, m, save, before) => batcher.report(c, m, save, before), logger: silentLogger(), flushMs: 1_000 });
    onTestFinished(() => answers.stop());
    const conns = [1, 2, 3].map((n) => {
      const conn = { id: `gw/ws/${n}`, type: ConnectionType.WEBSOCKET, liveness: new AgentLiveness(Date.now()), push: async () => {} } as unknown as AgentConnection;
      answers.decided(conn, create(ConnectionSchema, { id: conn.id, type: ConnectionType.WEBSOCKET, instanceUid: uid }), heartbeat(1n), allowed, answers.generation(conn.id));
      return conn;
    });
    // Their last reports are 30 s old, as for any agent at the spec's interval.
    vi.setSystemTime(Date.now() + 30_000);
    for (const conn of conns) expect(answers.answer(conn, heartbeat(2n))).toBe(ack);
    await new Promise((r) => setImmediate(r));
    expect(calls, "nothing before the flush").toEqual([]);
    answers.flush();
    for (const conn of conns) await answers.closed(conn.id);
    expect(calls, "one call for the three connections").toEqual([3]);
  });

  it("hands the heartbeats answered before a message over to ride on its report, after a report already on its way", async () => {
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const t = setup(async () => (await slow, allowed));
    t.decided(1n);
    t.answers.answer(t.conn, heartbeat(2n));
    t.answers.flush(); // 2 is on its way
    t.answers.answer(t.conn, heartbeat(3n));
    t.answers.answer(t.conn, heartbeat(4n));
    let taken: bigint | undefined;
    const settling = Promise.resolve(t.answers.settle(t.conn.id)).then((n) => (taken = n));
    await new Promise((r) => setImmediate(r));
    expect(taken, "waits for the report in flight").toBeUndefined();
    release();
    await settling;
    expect(taken).toBe(2n);
    expect(t.reports).toEqual([{ seq: 2n, before: 0n }]);
  });

  it("stops answering on a push notice (withdraw), and still reports what it answered", async () => {
    const t = setup();
    t.decided(1n);
    t.answers.answer(t.conn, heartbeat(2n));
    t.answers.withdraw(t.conn);
    expect(t.answers.answer(t.conn, heartbeat(3n))).toBeUndefined();
    t.answers.flush();
    await t.answers.closed(t.conn.id);
    expect(t.reports).toEqual([{ seq: 2n, before: 0n }]);
  });

  it("does not take up a permission that a push notice withdrew while its report was out", () => {
    const t = setup();
    // A first report out, a notice, then its answer: not taken up.
    const first = t.answers.generation(t.conn.id);
    t.answers.withdraw(t.conn);
    t.decided(1n, allowed, first);
    expect(t.answers.answer(t.conn, heartbeat(2n))).toBeUndefined();
    // Allowed, then a report out, a notice, its answer: withdrawn for good.
    t.decided(2n);
    const out = t.answers.generation(t.conn.id);
    t.answers.withdraw(t.conn);
    t.decided(3n, allowed, out);
    expect(t.answers.answer(t.conn, heartbeat(4n))).toBeUndefined();
    // The next report, sent after the notice, may.
    t.decided(4n);
    expect(t.answers.answer(t.conn, heartbeat(5n))).toBe(ack);
  });

  it("pushes agent-service's reply to an answered heartbeat when it is more than the acknowledgement, and stops answering", async () => {
    const fullState = serverToAgent(uid, SERVER_CAPABILITIES, { flags: BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState) });
    const t = setup(() => ({ reply: fullState, heartbeatIntervalSeconds: 30n, connectionSaved: false, acknowledgesHeartbeats: false }));
    t.decided(1n);
    t.answers.answer(t.conn, heartbeat(2n));
    t.answers.flush();
    await t.answers.closed(t.conn.id);
    expect(t.pushed).toEqual([fullState]);
    expect(t.answers.answer(t.conn, heartbeat(3n))).toBeUndefined();
  });

  it("stops answering when a liveness report fails", async () => {
    const t = setup(() => Promise.reject(new Error("agent-service down")));
    t.decided(1n);
    t.answers.answer(t.conn, heartbeat(2n));
    t.answers.flush();
    await t.answers.closed(t.conn.id);
    expect(t.answers.answer(t.conn, heartbeat(3n))).toBeUndefined();
  });

  it("reports what a closing connection owes before closed() resolves (its disconnect comes after)", async () => {
    const t = setup();
    t.decided(1n);
    t.answers.answer(t.conn, heartbeat(2n));
    t.answers.answer(t.conn, heartbeat(3n));
    await t.answers.closed(t.conn.id);
    expect(t.reports).toEqual([{ seq: 3n, before: 1n }]);
    expect(t.answers.answer(t.conn, heartbeat(4n))).toBeUndefined();
  });

  it("answers nothing while the gateway's lease is not known to be current", () => {
    let held = false;
    const t = setup(undefined, () => held);
    t.decided(1n);
    expect(t.answers.answer(t.conn, heartbeat(2n))).toBeUndefined();
    held = true;
    expect(t.answers.answer(t.conn, heartbeat(2n))).toBe(ack);
  });
});
