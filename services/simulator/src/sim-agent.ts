import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  AgentCapabilities,
  AgentToServerSchema,
  CommandType,
  RemoteConfigStatusSchema,
  RemoteConfigStatuses,
  type AgentToServer,
  ServerErrorResponseType,
  ServerToAgentFlags,
  ServerToAgentSchema,
  type ServerToAgent,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex, uuidv7Bytes, bytesEqual } from "@fleetplane/platform";
import http from "node:http";
import { gunzipSync, gzipSync } from "node:zlib";
import WebSocket from "ws";
import { INITIAL_CONFIG, SIM_CAPABILITIES, agentDescription, effectiveConfig, health } from "./agent-profile.js";
import type { LatencyHistogram } from "./latency.js";

export type SimTransport = "ws" | "http";

/** The fields of one AgentToServer besides identity and sequence number. */
type Report = Partial<Omit<AgentToServer, "$typeName" | "instanceUid" | "sequenceNum">>;

/** Counters shared by every agent of a fleet (plain numbers: one thread, no locks). */
export interface SimStats {
  connected: number;
  connects: number;
  connectFailures: number;
  disconnects: number;
  sent: number;
  received: number;
  bytesSent: number;
  bytesReceived: number;
  errorResponses: number;
  transportErrors: number;
  configsApplied: number;
  configsFailed: number;
  restarts: number;
  latency: LatencyHistogram;
}

export interface SimAgentOptions {
  url: string;
  transport: SimTransport;
  index: number;
  /** Time between status reports (heartbeats or polls). */
  intervalMs: number;
  /** Fraction of the interval added or removed at random (0..1). */
  jitter: number;
  /** Send the next report as soon as the reply arrives (throughput mode). */
  closedLoop: boolean;
  /** gzip HTTP request bodies and accept gzip replies. */
  gzip: boolean;
  /** A remote config whose text contains this is reported FAILED. */
  failMarker: string;
  stats: SimStats;
  httpAgent: http.Agent;
  /** Enrollment token sent as Authorization: Bearer on the upgrade and every poll. */
  token?: string;
  /**
   * Local address to connect from (a 127.x.y.z on loopback): one source
   * address has ~28,000 ephemeral ports towards one server port, so a
   * 100,000-agent run spreads its processes over several.
   */
  localAddress?: string;
  onFirstReply?: (agent: SimAgent, at: number) => void;
  onRemoteConfig?: (agent: SimAgent, config: string, at: number) => void;
}

const INITIAL_BODY = new TextEncoder().encode(INITIAL_CONFIG);
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30_000;
/** The spec's heartbeat interval for an agent that reports heartbeats and was offered none. */
const SPEC_HEARTBEAT_MS = 30_000;
const REPORTS_HEARTBEAT = BigInt(AgentCapabilities.AgentCapabilities_ReportsHeartbeat);

/**
 * What an agent says it can do. A WebSocket agent that reports heartbeats
 * promises one at least every 30 s (the spec's default; the sims accept no
 * other): quiet agents, which report less often, do not claim it, or the
 * gateway rightly takes them for dead after a few missed heartbeats and
 * closes them (on a slow store, each reconnection costs it the agent's
 * connection again: the 1,000-agent distributed rollout bench, issue 12).
 * They are watched by WebSocket pings instead, as any agent without it.
 */
export function simCapabilities(transport: SimTransport, intervalMs: number): bigint {
  return transport === "ws" && intervalMs > SPEC_HEARTBEAT_MS ? SIM_CAPABILITIES & ~REPORTS_HEARTBEAT : SIM_CAPABILITIES;
}

/**
 * One simulated OpAMP agent: says who it is, reports status on a schedule,
 * applies remote configs (reporting APPLIED, or FAILED for marked ones),
 * honours ReportFullState, new instance UIDs and Restart, and reconnects
 * with exponential backoff. Heartbeats are encoded by hand (three fields) so
 * one process can drive tens of thousands of agents.
 */
export class SimAgent {
  uid: Uint8Array;
  uidHex: string;
  private seq = 0n;
  private running = false;
  private socket: WebSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight: number[] = [];
  private backoffMs = RECONNECT_MIN_MS;
  /** Set by a refusal over WebSocket: when to connect again after closing. */
  private reconnectAfterMs: number | undefined;
  private replied = false;
  private wsOpen = false;
  private lastConfigHash: Uint8Array | undefined;
  private effective: Uint8Array = INITIAL_BODY;
  private pendingReport: Report | undefined;
  private readonly startedAtNs = BigInt(Date.now()) * 1_000_000n;
  private readonly capabilities: bigint;

  constructor(private readonly o: SimAgentOptions) {
    this.capabilities = simCapabilities(o.transport, o.intervalMs);
    this.uid = uuidv7Bytes();
    this.uidHex = instanceUidToHex(this.uid);
  }

  start(): void {
    this.running = true;
    if (this.o.transport === "ws") this.connect();
    else this.sendHttp(this.fullState());
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    const s = this.socket;
    this.socket = undefined;
    if (s && s.readyState === WebSocket.OPEN) s.close(1000);
    else s?.terminate();
  }

  get isConnected(): boolean {
    return this.o.transport === "ws" ? this.socket?.readyState === WebSocket.OPEN : this.replied;
  }

  private fullState(): Report {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    return {
      agentDescription: agentDescription(this.o.index, this.uidHex),
      capabilities: this.capabilities,
      effectiveConfig: effectiveConfig(this.effective),
      health: health(this.startedAtNs, nowNs),
    };
  }

  private encode(fields: Report | undefined): Uint8Array {
    const seq = this.seq++;
    if (!fields) return encodeHeartbeat(this.uid, seq, this.capabilities);
    return toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: this.uid, sequenceNum: seq, capabilities: this.capabilities, ...fields }));
  }

  private authorization(): Record<string, string> {
    return this.o.token ? { Authorization: `Bearer ${this.o.token}` } : {};
  }

  // --- WebSocket -----------------------------------------------------------

  private connect(): void {
    if (!this.running) return;
    const socket = new WebSocket(this.o.url, { perMessageDeflate: false, handshakeTimeout: 30_000, headers: this.authorization(), ...(this.o.localAddress ? { localAddress: this.o.localAddress } : {}) });
    socket.binaryType = "nodebuffer";
    this.socket = socket;
    socket.on("open", () => {
      this.wsOpen = true;
      this.o.stats.connects++;
      this.o.stats.connected++;
      this.backoffMs = RECONNECT_MIN_MS;
      this.sendWs(this.fullState());
    });
    socket.on("message", (data: Buffer) => {
      this.o.stats.bytesReceived += data.length;
      // Header byte 0, then the ServerToAgent.
      this.onReply(fromBinary(ServerToAgentSchema, data.subarray(1)));
    });
    socket.on("error", () => {
      this.o.stats.transportErrors++;
    });
    socket.on("close", () => this.onWsClosed(socket));
  }

  private onWsClosed(socket: WebSocket): void {
    clearTimeout(this.timer);
    this.inFlight.length = 0;
    if (this.socket !== socket) return;
    this.socket = undefined;
    if (this.wsOpen) {
      this.o.stats.connected--;
      this.o.stats.disconnects++;
    } else {
      this.o.stats.connectFailures++;
    }
    this.wsOpen = false;
    this.replied = false;
    if (!this.running) return;
    // Told when to come back (a refusal's RetryInfo): that, not the backoff.
    const told = this.reconnectAfterMs;
    this.reconnectAfterMs = undefined;
    const wait = told ?? this.backoffMs * (0.5 + Math.random());
    if (told === undefined) this.backoffMs = Math.min(RECONNECT_MAX_MS, this.backoffMs * 2);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  private sendWs(fields?: Report): void {
    const s = this.socket;
    if (!s || s.readyState !== WebSocket.OPEN) return;
    const body = this.encode(fields);
    const frame = Buffer.allocUnsafe(body.length + 1);
    frame[0] = 0;
    frame.set(body, 1);
    this.inFlight.push(performance.now());
    this.o.stats.sent++;
    this.o.stats.bytesSent += frame.length;
    s.send(frame);
  }

  // --- plain HTTP ----------------------------------------------------------

  private sendHttp(fields?: Report): void {
    if (!this.running) return;
    let body: Uint8Array = this.encode(fields);
    const headers: Record<string, string> = { "Content-Type": "application/x-protobuf", "OpAMP-Instance-UID": this.uidHex, ...this.authorization() };
    if (this.o.gzip) {
      body = gzipSync(body);
      headers["Content-Encoding"] = "gzip";
      headers["Accept-Encoding"] = "gzip";
    }
    const started = performance.now();
    this.o.stats.sent++;
    this.o.stats.bytesSent += body.length;
    const req = http.request(this.o.url, { method: "POST", headers, agent: this.o.httpAgent, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        let raw = Buffer.concat(chunks);
        this.o.stats.bytesReceived += raw.length;
        try {
          if (res.headers["content-encoding"] === "gzip") raw = gunzipSync(raw);
          this.inFlight.push(started);
          this.onReply(fromBinary(ServerToAgentSchema, raw));
        } catch {
          this.o.stats.transportErrors++;
          this.scheduleNext();
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("poll timed out")));
    req.on("error", () => {
      this.o.stats.transportErrors++;
      if (!this.replied) this.o.stats.connectFailures++;
      this.timer = setTimeout(() => this.sendHttp(this.pendingReport ?? this.fullState()), this.backoffMs * (0.5 + Math.random()));
      this.backoffMs = Math.min(RECONNECT_MAX_MS, this.backoffMs * 2);
    });
    req.end(body);
  }

  // --- both ----------------------------------------------------------------

  private onReply(msg: ServerToAgent): void {
    const now = performance.now();
    const sentAt = this.inFlight.shift();
    if (sentAt !== undefined) this.o.stats.latency.record(now - sentAt);
    this.o.stats.received++;
    let next: Report | undefined;

    if (msg.errorResponse) {
      this.o.stats.errorResponses++;
      // Unavailable with RetryInfo: wait as told, then say everything again.
      const retry = Math.max(msg.errorResponse.Details.case === "retryInfo" ? Number(msg.errorResponse.Details.value.retryAfterNanoseconds / 1_000_000n) : this.o.intervalMs, 100);
      this.pendingReport = this.fullState();
      // Over WebSocket the agent disconnects and comes back after the wait
      // (spec, "Throttling › WebSocket Transport"): a refused socket held open
      // is a file the server keeps for nothing.
      if (this.o.transport === "ws" && msg.errorResponse.type === ServerErrorResponseType.ServerErrorResponseType_Unavailable) {
        this.reconnectAfterMs = retry;
        this.socket?.close(1000);
        return;
      }
      return this.scheduleNext(retry);
    }
    // Answered, not refused (a refusal, such as "too many connecting agents;
    // retry later", is no answer: the agent is not in yet).
    if (!this.replied) {
      this.replied = true;
      if (this.o.transport === "http") {
        this.o.stats.connects++;
        this.o.stats.connected++;
      }
      this.o.onFirstReply?.(this, now);
    }
    if (msg.agentIdentification?.newInstanceUid.length === 16) {
      this.uid = msg.agentIdentification.newInstanceUid;
      this.uidHex = instanceUidToHex(this.uid);
      next = this.fullState();
    }
    if (msg.command?.type === CommandType.CommandType_Restart) {
      this.o.stats.restarts++;
      if (this.o.transport === "ws") {
        this.socket?.close(1000);
        return;
      }
      next = this.fullState();
    }
    if ((msg.flags & BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState)) !== 0n) next = { ...this.fullState(), ...next };
    // A push and a reply can both carry the same config: like real agents,
    // act on a hash once.
    if (msg.remoteConfig?.config && !bytesEqual(msg.remoteConfig.configHash, this.lastConfigHash)) {
      this.lastConfigHash = msg.remoteConfig.configHash;
      const files = Object.values(msg.remoteConfig.config.configMap);
      const text = files.map((f) => new TextDecoder().decode(f.body)).join("\n");
      this.o.onRemoteConfig?.(this, text, now);
      const failed = this.o.failMarker !== "" && text.includes(this.o.failMarker);
      if (failed) this.o.stats.configsFailed++;
      else {
        this.o.stats.configsApplied++;
        this.effective = files[0]?.body ?? this.effective;
      }
      next = {
        ...next,
        remoteConfigStatus: create(RemoteConfigStatusSchema, {
          lastRemoteConfigHash: msg.remoteConfig.configHash,
          status: failed ? RemoteConfigStatuses.RemoteConfigStatuses_FAILED : RemoteConfigStatuses.RemoteConfigStatuses_APPLIED,
          errorMessage: failed ? `simulated failure: config contains "${this.o.failMarker}"` : "",
        }),
        ...(failed ? {} : { effectiveConfig: effectiveConfig(this.effective) }),
      };
    }

    if (next) {
      // Something to say now: answer at once, then carry on with the schedule.
      this.pendingReport = undefined;
      if (this.o.transport === "ws") this.sendWs(next);
      else {
        clearTimeout(this.timer);
        this.sendHttp(next);
      }
      return;
    }
    if (this.o.transport === "http" || this.inFlight.length === 0) this.scheduleNext();
  }

  private scheduleNext(delayMs?: number): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    const base = delayMs ?? (this.o.closedLoop ? 0 : this.o.intervalMs);
    const wait = this.o.closedLoop && delayMs === undefined ? 0 : base * (1 + this.o.jitter * (Math.random() * 2 - 1));
    const send = () => {
      const report = this.pendingReport;
      this.pendingReport = undefined;
      if (this.o.transport === "ws") this.sendWs(report);
      else this.sendHttp(report);
    };
    if (wait <= 0) setImmediate(send);
    else this.timer = setTimeout(send, wait);
  }
}

/** AgentToServer{instance_uid, sequence_num, capabilities}, the heartbeat, without a message object. */
export function encodeHeartbeat(uid: Uint8Array, seq: bigint, capabilities: bigint): Uint8Array {
  const out = new Uint8Array(2 + 16 + 1 + 10 + 1 + 10);
  let o = 0;
  out[o++] = 0x0a; // field 1, length-delimited
  out[o++] = 16;
  out.set(uid, o);
  o += 16;
  if (seq !== 0n) {
    out[o++] = 0x10; // field 2, varint
    o = writeVarint(out, o, seq);
  }
  if (capabilities !== 0n) {
    out[o++] = 0x20; // field 4, varint
    o = writeVarint(out, o, capabilities);
  }
  return out.subarray(0, o);
}

function writeVarint(out: Uint8Array, at: number, value: bigint): number {
  let v = value;
  while (v >= 0x80n) {
    out[at++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[at++] = Number(v);
  return at;
}

