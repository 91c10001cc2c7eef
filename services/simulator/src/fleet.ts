import http from "node:http";
import { LatencyHistogram } from "./latency.js";
import { SimAgent, type SimStats, type SimTransport } from "./sim-agent.js";

export interface FleetOptions {
  /** ws:// or http:// URL of the OpAMP endpoint (the other scheme is derived for "mixed"). */
  url: string;
  agents: number;
  transport: SimTransport | "mixed";
  intervalMs: number;
  jitter: number;
  closedLoop: boolean;
  gzip: boolean;
  failMarker: string;
  /** New agents started per second; 0 starts them all at once (a connect storm). */
  rampPerSecond: number;
  /** Enrollment token every agent presents (Authorization: Bearer); none when unset. */
  token?: string;
  /** Index of the first agent (agent descriptions are numbered); default 0. */
  firstIndex?: number;
  /** Local address the WebSocket agents connect from (see SimAgentOptions.localAddress). */
  localAddress?: string;
  onRemoteConfig?: (agent: SimAgent, config: string, at: number) => void;
}

export interface FleetSnapshot {
  elapsedSeconds: number;
  started: number;
  connected: number;
  firstReplies: number;
  sent: number;
  received: number;
  messagesPerSecond: number;
  errorResponses: number;
  transportErrors: number;
  connectFailures: number;
  disconnects: number;
  configsApplied: number;
  configsFailed: number;
  latencyMs: ReturnType<LatencyHistogram["summary"]>;
}

export function newStats(): SimStats {
  return {
    connected: 0,
    connects: 0,
    connectFailures: 0,
    disconnects: 0,
    sent: 0,
    received: 0,
    bytesSent: 0,
    bytesReceived: 0,
    errorResponses: 0,
    transportErrors: 0,
    configsApplied: 0,
    configsFailed: 0,
    restarts: 0,
    latency: new LatencyHistogram(),
  };
}

/** N simulated agents in this process, started at a chosen rate. */
export class Fleet {
  readonly stats = newStats();
  readonly agents: SimAgent[] = [];
  firstReplies = 0;
  private readonly startedAt = performance.now();
  private lastRateAt = performance.now();
  private lastRateReceived = 0;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity, keepAliveMsecs: 30_000 });
  private stopped = false;
  private readonly firstReplyWaiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(private readonly o: FleetOptions) {}

  /** Starts every agent, honouring the ramp; resolves when the last one was started. */
  async start(): Promise<void> {
    const wsUrl = this.o.url.replace(/^http/, "ws");
    const httpUrl = this.o.url.replace(/^ws/, "http");
    const batch = this.o.rampPerSecond > 0 ? Math.max(1, Math.round(this.o.rampPerSecond / 20)) : this.o.agents;
    for (let i = 0; i < this.o.agents && !this.stopped; i++) {
      const transport: SimTransport = this.o.transport === "mixed" ? (i % 2 === 0 ? "ws" : "http") : this.o.transport;
      const agent = new SimAgent({
        url: transport === "ws" ? wsUrl : httpUrl,
        transport,
        index: (this.o.firstIndex ?? 0) + i,
        intervalMs: this.o.intervalMs,
        jitter: this.o.jitter,
        closedLoop: this.o.closedLoop,
        gzip: this.o.gzip,
        failMarker: this.o.failMarker,
        stats: this.stats,
        httpAgent: this.httpAgent,
        ...(this.o.token ? { token: this.o.token } : {}),
        ...(this.o.localAddress ? { localAddress: this.o.localAddress } : {}),
        onFirstReply: () => this.onFirstReply(),
        ...(this.o.onRemoteConfig ? { onRemoteConfig: this.o.onRemoteConfig } : {}),
      });
      this.agents.push(agent);
      agent.start();
      // Ramp in slices of 50 ms; yield to the event loop between slices either way.
      if ((i + 1) % batch === 0) await new Promise((r) => setTimeout(r, this.o.rampPerSecond > 0 ? 50 : 0));
    }
  }

  /** Resolves once `n` agents got their first reply, or rejects after `timeoutMs`. */
  whenFirstReplies(n: number, timeoutMs: number): Promise<void> {
    if (this.firstReplies >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.firstReplies} of ${n} agents were answered within ${timeoutMs / 1000} s`)), timeoutMs);
      this.firstReplyWaiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  /** Starts a fresh latency window (for steady-state measurements after the ramp). */
  resetLatency(): void {
    this.stats.latency = new LatencyHistogram();
  }

  snapshot(): FleetSnapshot {
    const now = performance.now();
    const s = this.stats;
    const window = (now - this.lastRateAt) / 1000;
    const rate = window > 0 ? (s.received - this.lastRateReceived) / window : 0;
    this.lastRateAt = now;
    this.lastRateReceived = s.received;
    return {
      elapsedSeconds: Math.round((now - this.startedAt) / 100) / 10,
      started: this.agents.length,
      connected: s.connected,
      firstReplies: this.firstReplies,
      sent: s.sent,
      received: s.received,
      messagesPerSecond: Math.round(rate),
      errorResponses: s.errorResponses,
      transportErrors: s.transportErrors,
      connectFailures: s.connectFailures,
      disconnects: s.disconnects,
      configsApplied: s.configsApplied,
      configsFailed: s.configsFailed,
      latencyMs: s.latency.summary(),
    };
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.agents) a.stop();
    this.httpAgent.destroy();
  }

  private onFirstReply(): void {
    this.firstReplies++;
    for (let i = this.firstReplyWaiters.length - 1; i >= 0; i--) {
      const w = this.firstReplyWaiters[i]!;
      if (this.firstReplies >= w.n) {
        this.firstReplyWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }
}
