import { ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { WebSocket } from "ws";
import { checkOutboundSize } from "@fleetplane/opamp";
import { AgentConnectionClosedError, type AgentConnection } from "./agent-connection.js";
import { AgentLiveness } from "./agent-liveness.js";
import type { AgentCredentials } from "./agent-authentication.js";
import { encodeServerFrame } from "./ws-framing.js";

/** An agent on a WebSocket: replies and pushes are binary frames with the OpAMP header. */
export class WebSocketAgentConnection implements AgentConnection {
  readonly type = ConnectionType.WEBSOCKET;
  readonly openedAt = Date.now();
  agent = "";
  /** Set when a pong (or any message) proves the peer alive since the last ping. */
  alive = true;
  /** When the agent last sent a message (pongs do not count: a hung agent still answers pings). */
  readonly liveness = new AgentLiveness(Date.now());
  /** The agent declared ReportsHeartbeat, so silence means missed heartbeats. */
  reportsHeartbeat = false;
  /** Its first message with a valid instance UID passed NewAgentAdmission; until then no message is handed on. */
  admitted = false;
  /** Closes the socket if no admitted message comes in time (the transport's first-message timeout). */
  firstMessageTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly remoteAddress: string,
    readonly endpoint: string,
    readonly credentials: AgentCredentials,
    private readonly socket: WebSocket,
    private readonly maxMessageBytes: number,
    private readonly bytesSent?: { inc(n: number): void },
  ) {}

  push(message: ServerToAgent): Promise<void> {
    const frame = encodeServerFrame(message);
    try {
      // The spec forbids sending a ServerToAgent above the agent's limit; ours
      // is the same configured limit in both directions.
      checkOutboundSize(frame.length, this.maxMessageBytes);
    } catch (err) {
      return Promise.reject(err);
    }
    // Checked here, so ws's own send-after-close error never reaches callers.
    if (this.socket.readyState !== this.socket.OPEN) return Promise.reject(new AgentConnectionClosedError(this.id));
    this.bytesSent?.inc(frame.length);
    this.liveness.sent(message);
    // ws queues concurrent sends itself, so no extra lock is needed here.
    return new Promise((resolve, reject) => this.socket.send(frame, { binary: true }, (err) => (err ? reject(err) : resolve())));
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  /**
   * Checks liveness once per ping interval: a peer that has not answered the
   * previous ping (nor sent anything) since is half-open — its TCP
   * connection may look fine to us for hours — so the socket is terminated,
   * which closes the connection and marks the agent disconnected. Returns
   * false when it did so.
   */
  checkAlive(): boolean {
    // While we stopped reading from the socket (backpressure), its pong sits
    // unread in the buffer: not the peer's fault, so not a miss.
    if (!this.alive && !this.socket.isPaused) {
      this.socket.terminate();
      return false;
    }
    this.alive = false;
    this.socket.ping();
    return true;
  }
}
