import { ConnectionType, type Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { AgentToServer, ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { isAcknowledgement, isHeartbeat } from "@fleetplane/opamp";
import { bytesEqual, type Logger } from "@fleetplane/platform";
import type { AgentConnection } from "./agent-connection.js";
import type { ReportResult } from "./report-batcher.js";

/** How a report reaches agent-service (ReportBatcher.report). */
type Report = (connection: Connection, message: AgentToServer, saveConnection: boolean, heartbeatsAnswered: bigint) => Promise<ReportResult>;

/** One connection's heartbeats answered here. */
interface Standing {
  conn: AgentConnection;
  record: Connection | undefined;
  /** The acknowledgement to answer heartbeats with; undefined until allowed, and once withdrawn. */
  reply: ServerToAgent | undefined;
  capabilities: bigint;
  /** The sequence number of the agent's last message, answered here or reported. */
  lastSeq: bigint;
  /** Heartbeats answered here and not yet reported, and the last of them. */
  answered: bigint;
  last: AgentToServer | undefined;
  /** The liveness report on its way (a connection's reports go one at a time, in order). */
  inFlight: Promise<void> | undefined;
  /**
   * Counts withdrawals: a report's permission applies only if nothing
   * withdrew it while the report was out. (So an entry stays, withdrawn,
   * until its connection closes.)
   */
  generation: number;
}

/**
 * Heartbeats answered in the gateway. Most messages of a connected fleet are
 * bare heartbeats that agent-service answers with the same acknowledgement
 * and that change nothing but the agent's liveness; handing each to
 * agent-service and back cost about half of the server's CPU per report
 * (docs/performance.md §16). When agent-service says so
 * (acknowledges_heartbeats), the next heartbeats of that connection — bare
 * (isHeartbeat), the next sequence number, the same capabilities, the same
 * instance UID — are answered here with that acknowledgement, and their
 * liveness is reported in batches: at each flush (default every second)
 * every connection with heartbeats answered since its last report is
 * reported, the last heartbeat as the message and the others counted
 * before it (heartbeats_answered), all in the same turn, so the report
 * batcher carries them to agent-service in one call (up to its batch size).
 * An agent at the spec's 30 s is reported at the flush after each heartbeat,
 * not by a call of its own (one call per heartbeat was most of an idle
 * agent's cost behind gateway workers, docs/performance.md §21, §24).
 * agent-service then records their liveness and sequence numbers and builds
 * the reply to the last one, which is pushed to the agent if it is more than
 * the acknowledgement. So:
 * - a sequence-number gap, or any other message, goes to agent-service at
 *   once (and the answered heartbeats before it ride along, in order);
 * - a push notice for the agent withdraws the permission (what is pending
 *   for it reaches it by the push, and its next heartbeat goes to
 *   agent-service); so does anything agent-service answers otherwise;
 * - agent-service hears of every heartbeat within one flush interval (its
 *   sequence number may trail the agent's by that much: the duplicate-UID
 *   rule in agent-reports.ts allows for it), and before the connection's
 *   disconnect.
 * WebSocket only: a plain-HTTP poll is answered by agent-service as before.
 */
export class HeartbeatAnswers {
  private readonly standings = new Map<string, Standing>();
  /** Standings with heartbeats answered and not yet reported. */
  private readonly owing = new Set<Standing>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly deps: {
      report: Report;
      logger: Logger;
      /** Whether the gateway's lease is current now (see GatewayLease.held); without it, always. */
      leaseHeld?: (() => boolean) | undefined;
      /** How often answered heartbeats are reported (default 1 s). */
      flushMs?: number;
    },
  ) {
    this.timer = setInterval(() => this.flush(), deps.flushMs ?? 1_000);
    this.timer.unref();
  }

  /** The acknowledgement for `message` when this gateway may answer it itself (and then counts it); otherwise undefined. */
  answer(conn: AgentConnection, message: AgentToServer): ServerToAgent | undefined {
    const s = this.standings.get(conn.id);
    if (s?.reply === undefined || message.sequenceNum !== s.lastSeq + 1n || message.capabilities !== s.capabilities) return undefined;
    if (!isHeartbeat(message) || !bytesEqual(s.record!.instanceUid, message.instanceUid)) return undefined;
    if (this.deps.leaseHeld && !this.deps.leaseHeld()) return undefined;
    s.lastSeq = message.sequenceNum;
    s.answered++;
    s.last = message;
    // Reported by the next flush, with every other connection's (one call).
    this.owing.add(s);
    return s.reply;
  }

  /** The generation to hand to `decided` for a report about to be made on the connection. */
  generation(connectionId: string): number {
    return this.standings.get(connectionId)?.generation ?? 0;
  }

  /**
   * Before a message of the connection goes to agent-service: waits for its
   * liveness report in flight and takes the heartbeats answered since (to
   * ride on the message's report, just before it). 0 when none: no promise.
   */
  settle(connectionId: string): bigint | Promise<bigint> {
    const s = this.standings.get(connectionId);
    if (s === undefined) return 0n;
    if (s.inFlight) return s.inFlight.then(() => this.settle(connectionId));
    const answered = s.answered;
    s.answered = 0n;
    s.last = undefined;
    this.owing.delete(s);
    return answered;
  }

  /** agent-service answered a report of the connection: it may let this gateway answer the next heartbeats, or not. */
  decided(conn: AgentConnection, record: Connection, message: AgentToServer, result: ReportResult, generation: number): void {
    const s = this.standings.get(conn.id);
    if (!result.acknowledgesHeartbeats || (s?.generation ?? 0) !== generation) return this.withdraw(conn);
    if (s) {
      Object.assign(s, { record, reply: result.reply, capabilities: message.capabilities, lastSeq: message.sequenceNum });
    } else {
      this.standings.set(conn.id, { conn, record, reply: result.reply, capabilities: message.capabilities, lastSeq: message.sequenceNum, answered: 0n, last: undefined, inFlight: undefined, generation });
    }
  }

  /** Its next heartbeat goes to agent-service (a push notice for the agent, a message answered otherwise). */
  withdraw(conn: AgentConnection): void {
    const s = this.standings.get(conn.id);
    if (s) {
      s.reply = undefined;
      s.generation++;
    } else if (conn.type === ConnectionType.WEBSOCKET) {
      // Remembered even before any permission: a report already out must not take one up.
      this.standings.set(conn.id, { conn, record: undefined, reply: undefined, capabilities: 0n, lastSeq: 0n, answered: 0n, last: undefined, inFlight: undefined, generation: 1 });
    }
  }

  /** The connection closed: what it owes is reported (before its disconnect is), and it is forgotten. */
  async closed(connectionId: string): Promise<void> {
    const s = this.standings.get(connectionId);
    if (s === undefined) return;
    s.reply = undefined;
    while (s.inFlight) await s.inFlight;
    if (s.answered > 0n) await this.reportOwed(s);
    this.standings.delete(connectionId);
  }

  /**
   * Reports every connection's answered heartbeats (the timer's work; tests
   * call it): in one turn, so the report batcher sends them in one call.
   * A connection whose last report is still out waits for the next flush.
   */
  flush(): void {
    for (const s of this.owing) if (!s.inFlight && s.answered > 0n) void this.reportOwed(s);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One report of the heartbeats answered: the last as the message, the others counted before it. */
  private reportOwed(s: Standing): Promise<void> {
    const last = s.last!;
    const before = s.answered - 1n;
    s.answered = 0n;
    s.last = undefined;
    this.owing.delete(s);
    const generation = s.generation;
    const done = this.deps.report(s.record!, last, false, before).then(
      (result) => {
        // Already answered with the acknowledgement: anything more goes as a push.
        if (!isAcknowledgement(result.reply)) {
          s.conn.liveness.runsAt(result.heartbeatIntervalSeconds);
          s.conn.push(result.reply).catch((err: unknown) => this.deps.logger.debug({ connection: s.conn.id, err: String(err) }, "could not send the reply to an answered heartbeat"));
        }
        if (!result.acknowledgesHeartbeats || s.generation !== generation) this.withdraw(s.conn);
      },
      (err: unknown) => {
        // Unreported liveness is not lost for long: the next message goes to agent-service.
        this.deps.logger.debug({ connection: s.conn.id, err: String(err) }, "could not report heartbeats answered by the gateway");
        this.withdraw(s.conn);
      },
    );
    s.inFlight = done.finally(() => {
      s.inFlight = undefined;
    });
    return s.inFlight;
  }
}
