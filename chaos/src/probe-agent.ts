import { create, toBinary } from "@bufbuild/protobuf";
import { AgentCapabilities, AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { uuidv7Bytes } from "@fleetplane/platform";
import { LatencyHistogram } from "@fleetplane/simulator";
import WebSocket from "ws";

const CAPS = BigInt(AgentCapabilities.AgentCapabilities_ReportsStatus | AgentCapabilities.AgentCapabilities_ReportsHeartbeat);

/**
 * A well-behaved agent beside the chaos: one WebSocket, a status message
 * every `intervalMs`, the next one only after the reply. It measures what
 * the abuse costs the agents that did nothing wrong: reply latency (p99,
 * max), replies that took longer than `lateMs`, and reconnects it needed.
 */
export class ProbeAgent {
  latency = new LatencyHistogram();
  /** Replies that came later than `lateMs`, or not at all within it. */
  late = 0;
  reconnects = 0;
  private readonly uid = uuidv7Bytes();
  private seq = 0n;
  private socket: WebSocket | undefined;
  private sentAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private running = true;

  constructor(
    private url: string,
    private readonly intervalMs = 100,
    private readonly lateMs = 1_000,
  ) {}

  start(): void {
    this.connect();
  }

  /** Points the probe at a restarted server (new address) and reconnects. */
  retarget(url: string): void {
    this.url = url;
    this.socket?.terminate();
  }

  /** Starts a fresh measurement window. */
  reset(): void {
    this.latency = new LatencyHistogram();
    this.late = 0;
    this.reconnects = 0;
  }

  summary() {
    return { ...this.latency.summary(), late: this.late, reconnects: this.reconnects };
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    this.socket?.terminate();
  }

  private connect(): void {
    if (!this.running) return;
    const socket = new WebSocket(this.url, { perMessageDeflate: false });
    this.socket = socket;
    socket.binaryType = "nodebuffer";
    socket.on("open", () => this.send());
    socket.on("message", () => this.onReply());
    socket.on("error", () => undefined);
    socket.on("close", () => {
      if (this.socket !== socket || !this.running) return;
      this.reconnects++;
      this.sentAt = undefined;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.connect(), 100);
    });
    // A reply that never comes is the worst latency: count it once it is late.
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      if (this.sentAt !== undefined && performance.now() - this.sentAt > this.lateMs) {
        this.late++;
        this.sentAt = undefined;
        this.socket?.terminate();
      }
    }, this.lateMs / 4);
  }

  private send(): void {
    const s = this.socket;
    if (!this.running || !s || s.readyState !== WebSocket.OPEN) return;
    const body = toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: this.uid, sequenceNum: this.seq++, capabilities: CAPS }));
    const frame = Buffer.concat([Buffer.from([0]), body]);
    this.sentAt = performance.now();
    s.send(frame);
  }

  private onReply(): void {
    if (this.sentAt === undefined) return;
    const ms = performance.now() - this.sentAt;
    this.sentAt = undefined;
    this.latency.record(ms);
    if (ms > this.lateMs) this.late++;
    this.timer = setTimeout(() => this.send(), this.intervalMs);
  }
}
