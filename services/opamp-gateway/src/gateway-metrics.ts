import { Counter, Gauge, Histogram } from "prom-client";
import { metricsRegistry } from "@fleetplane/platform/metrics";

export type Transport = "ws" | "http";

/**
 * The gateway's figures. Label values are bound once (`.labels()` up front)
 * so counting a message is a single increment, not a label lookup.
 */
export class GatewayMetrics {
  private static shared: GatewayMetrics | undefined;

  /** Metrics are registered once per process, even if tests start several gateways. */
  static get(): GatewayMetrics {
    return (GatewayMetrics.shared ??= new GatewayMetrics());
  }

  private readonly received = new Counter({ name: "fleetplane_opamp_messages_received_total", help: "AgentToServer messages received", labelNames: ["transport"], registers: [metricsRegistry] });
  private readonly sent = new Counter({ name: "fleetplane_opamp_messages_sent_total", help: "ServerToAgent messages sent, as replies or pushes", labelNames: ["transport", "kind"], registers: [metricsRegistry] });
  private readonly bytes = new Counter({ name: "fleetplane_opamp_message_bytes_total", help: "OpAMP message bytes (after decompression)", labelNames: ["direction", "transport"], registers: [metricsRegistry] });
  private readonly decodeErrors = new Counter({ name: "fleetplane_opamp_decode_errors_total", help: "Messages that could not be read (malformed, oversized, bad gzip)", labelNames: ["transport"], registers: [metricsRegistry] });
  readonly reportSeconds = new Histogram({
    name: "fleetplane_opamp_report_duration_seconds",
    help: "Time from an agent's message to the reply being handed to the socket",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metricsRegistry],
  });
  readonly pushSeconds = new Histogram({
    name: "fleetplane_push_duration_seconds",
    help: "Time from a push notice reaching the gateway to the message being sent",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [metricsRegistry],
  });
  private readonly connected = new Gauge({
    name: "fleetplane_opamp_connected_agents",
    help: "Agent sessions held by this process's gateways",
    labelNames: ["transport"],
    registers: [metricsRegistry],
    collect: () => this.collectConnected(),
  });
  private readonly sources = new Set<() => { ws: number; http: number }>();

  readonly receivedBy = { ws: this.received.labels("ws"), http: this.received.labels("http") };
  readonly repliesBy = { ws: this.sent.labels("ws", "reply"), http: this.sent.labels("http", "reply") };
  readonly pushes = this.sent.labels("ws", "push");
  readonly bytesIn = { ws: this.bytes.labels("in", "ws"), http: this.bytes.labels("in", "http") };
  readonly bytesOut = { ws: this.bytes.labels("out", "ws"), http: this.bytes.labels("out", "http") };
  readonly decodeErrorsBy = { ws: this.decodeErrors.labels("ws"), http: this.decodeErrors.labels("http") };

  /** A gateway reports how many sessions it holds; returns the unregister function. */
  countConnected(source: () => { ws: number; http: number }): () => void {
    this.sources.add(source);
    return () => this.sources.delete(source);
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
