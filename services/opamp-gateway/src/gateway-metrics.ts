import { Counter, Gauge } from "prom-client";
import { BoundHistogram, metricsRegistry, type BoundHistogramChild } from "@fleetplane/platform-node";
import type { WarningCounter, WarningKind } from "./rate-limited-warnings.js";

export type Transport = "ws" | "http";

/**
 * A labelled counter that is counted per message: increments are summed in a
 * plain number and handed to prom-client when the counter is read (its
 * `collect`), so a scrape shows exactly the same totals. prom-client hashes
 * the labels and updates its map on every `inc()`, even on a child bound with
 * `.labels()`; four such increments per status report cost ~5 % of the
 * server's CPU in steady state (docs/performance.md §7).
 */
export class Tally {
  private pending = 0;

  constructor(private readonly child: { inc(n: number): void }) {}

  inc(n = 1): void {
    this.pending += n;
  }

  /** Hands what was counted since the last read to prom-client. */
  settle(): void {
    if (this.pending === 0) return;
    this.child.inc(this.pending);
    this.pending = 0;
  }
}

/**
 * The gateway's figures. Label values are bound once (`.labels()` up front);
 * the per-message counters are Tallies (see above), settled on every read.
 */
export class GatewayMetrics implements WarningCounter {
  private static shared: GatewayMetrics | undefined;

  /** Metrics are registered once per process, even if tests start several gateways. */
  static get(): GatewayMetrics {
    return (GatewayMetrics.shared ??= new GatewayMetrics());
  }

  private readonly received = new Counter({ name: "fleetplane_opamp_messages_received_total", help: "AgentToServer messages received", labelNames: ["transport"], registers: [metricsRegistry], collect: () => this.settle() });
  private readonly sent = new Counter({ name: "fleetplane_opamp_messages_sent_total", help: "ServerToAgent messages sent, as replies or pushes", labelNames: ["transport", "kind"], registers: [metricsRegistry], collect: () => this.settle() });
  private readonly bytes = new Counter({ name: "fleetplane_opamp_message_bytes_total", help: "OpAMP message bytes (after decompression)", labelNames: ["direction", "transport"], registers: [metricsRegistry], collect: () => this.settle() });
  private readonly decodeErrors = new Counter({ name: "fleetplane_opamp_decode_errors_total", help: "Messages that could not be read (malformed, oversized, bad gzip)", labelNames: ["transport"], registers: [metricsRegistry] });
  // BoundHistograms: prom-client's Histogram makes a closure and a label
  // object and hashes its (empty) label set on every observe(), once per
  // answered report. One profile pair put that at ~8 µs of a new agent's CPU
  // at a connect storm's margin (±30–50 µs a pair: not a measured gain,
  // docs/performance.md §55).
  readonly reportSeconds: BoundHistogramChild = new BoundHistogram({
    name: "fleetplane_opamp_report_duration_seconds",
    help: "Time from an agent's message to the reply being handed to the socket",
    labelNames: [],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metricsRegistry],
  }).labels();
  readonly pushSeconds: BoundHistogramChild = new BoundHistogram({
    name: "fleetplane_push_duration_seconds",
    help: "Time from a push notice reaching the gateway to the message being sent",
    labelNames: [],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [metricsRegistry],
  }).labels();
  private readonly connected = new Gauge({
    name: "fleetplane_opamp_connected_agents",
    help: "Agent sessions held by this process's gateways",
    labelNames: ["transport"],
    registers: [metricsRegistry],
    collect: () => this.collectConnected(),
  });
  private readonly sources = new Set<() => { ws: number; http: number }>();
  private readonly warnings = new Counter({
    name: "fleetplane_opamp_warnings_total",
    help: "Per-input warnings (malformed, oversized or refused input, silent sockets), by kind; counted whether or not the rate-limited log wrote a line",
    labelNames: ["kind"],
    registers: [metricsRegistry],
  });

  private readonly tallies: Tally[] = [];
  private tally(child: { inc(n: number): void }): Tally {
    const t = new Tally(child);
    this.tallies.push(t);
    return t;
  }

  readonly receivedBy = { ws: this.tally(this.received.labels("ws")), http: this.tally(this.received.labels("http")) };
  readonly repliesBy = { ws: this.tally(this.sent.labels("ws", "reply")), http: this.tally(this.sent.labels("http", "reply")) };
  readonly pushes = this.tally(this.sent.labels("ws", "push"));
  readonly bytesIn = { ws: this.tally(this.bytes.labels("in", "ws")), http: this.tally(this.bytes.labels("in", "http")) };
  readonly bytesOut = { ws: this.tally(this.bytes.labels("out", "ws")), http: this.tally(this.bytes.labels("out", "http")) };
  readonly decodeErrorsBy = { ws: this.decodeErrors.labels("ws"), http: this.decodeErrors.labels("http") };

  /** One per-input warning (RateLimitedWarnings' WarningCounter). */
  count(kind: WarningKind): void {
    this.warnings.labels(kind).inc();
  }

  /** A gateway reports how many sessions it holds; returns the unregister function. */
  countConnected(source: () => { ws: number; http: number }): () => void {
    this.sources.add(source);
    return () => this.sources.delete(source);
  }

  private settle(): void {
    for (const t of this.tallies) t.settle();
  }

  private collectConnected(): void {
    let ws = 0;
    let http = 0;
    for (const s of this.sources) {
      const c = s();
      ws += c.ws;
      http += c.http;
    }
    this.connected.labels("ws").set(ws);
    this.connected.labels("http").set(http);
  }
}
