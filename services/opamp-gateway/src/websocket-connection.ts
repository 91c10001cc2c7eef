import { ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { OPEN, PAUSED_FOR_QUEUE, PAUSED_FOR_WRITES, closeReason, type ServerWebSocket } from "./server-websocket.js";
import { bytesEqual } from "@fleetplane/platform";
import { checkOutboundSize, isAcknowledgement } from "@fleetplane/opamp";
import { AgentConnectionClosedError, type AgentConnection } from "./agent-connection.js";
import { AgentLiveness } from "./agent-liveness.js";
import { encodeServerWebSocketFrame } from "./ws-framing.js";
import type { AgentCredentials } from "./agent-authentication.js";
import type { UpgradePlace } from "./upgrade-backlog.js";

/** An agent on a WebSocket: replies and pushes are binary frames with the OpAMP header. */
export class WebSocketAgentConnection implements AgentConnection {
  readonly type = ConnectionType.WEBSOCKET;
  readonly openedAt = Date.now();
  agent = "";
  /** Set when a pong proves the peer alive since the last check. */
  alive = true;
  /** Set when the agent sent a message since the last check (checkAlive). */
  spoke = false;
  /** A ping went out at the last check. */
  private pinged = false;
  /** When the agent last sent a message (pongs do not count: a hung agent still answers pings). */
  readonly liveness = new AgentLiveness(Date.now());
  /** The agent declared ReportsHeartbeat, so silence means missed heartbeats. */
  reportsHeartbeat = false;
  /** Its first message with a valid instance UID passed NewAgentAdmission; until then no message is handed on. */
  admitted = false;
  /** Its place in the transport's upgrade backlog (upgrade-backlog.ts) while its first message is not answered; undefined after. */
  upgradePlace: UpgradePlace | undefined;
  /** The transport's handling of this socket's messages while it runs (one burst at a time; it never rejects). */
  handling: Promise<void> | undefined;
  /** Messages that arrived while `handling` ran, handled after it in order (the transport's; undefined when none ever waited). */
  waiting: Array<{ data: Buffer; isBinary: boolean }> | undefined;
  /** The bytes of `waiting`'s messages (the transport's queue bound, WS_MAX_QUEUED_BYTES). */
  waitingBytes = 0;

  /**
   * The last acknowledgement sent (see isAcknowledgement) and its frame: a
   * heartbeat's answer is the same bytes every time, so it is encoded once
   * per connection, not once per heartbeat. What the frame says is read
   * from the message itself (a ServerToAgent is not changed once sent), not
   * kept beside it: two fields and no copy of its instance UID per socket,
   * ~20 MiB over 100,000 sockets (docs/performance.md §41).
   */
  private ackMessage: ServerToAgent | undefined;
  private ackFrame: Buffer | undefined;

  constructor(
    readonly id: string,
    readonly remoteAddress: string,
    readonly endpoint: string,
    readonly credentials: AgentCredentials,
    private readonly socket: ServerWebSocket<WebSocketAgentConnection>,
    private readonly maxMessageBytes: number,
    private readonly bytesSent?: { inc(n: number): void },
  ) {}

  settled(): Promise<void> {
    return this.handling ?? Promise.resolve();
  }

  push(message: ServerToAgent): Promise<void> {
    try {
      this.send(message);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Sends a message now: one whole WebSocket frame, one write to the socket
   * (ServerWebSocket.write: a peer that does not read is not written to without bound).
   * ws's send wrote the frame header and the payload as two buffers under
   * cork/uncork (a writev) with a callback for each; that was a third of the
   * server's CPU in steady state (docs/performance.md §9). The WebSocket's
   * own frames (pings, pongs, the close) are whole frames written in one
   * synchronous call each too, so frames never interleave. A failed write
   * surfaces as the socket's error, which closes it (server-websocket.ts).
   * Throws AgentConnectionClosedError once the close handshake has begun,
   * OutboundMessageTooLargeError over the limit.
   */
  send(message: ServerToAgent): void {
    // Checked first, so nothing is written after the close frame.
    if (this.socket.readyState !== OPEN) throw new AgentConnectionClosedError(this.id);
    const bytes = this.frameOf(message);
    this.bytesSent?.inc(bytes.length);
    this.liveness.sent(message);
    this.socket.write(bytes);
  }

  private frameOf(message: ServerToAgent): Buffer {
    const cached = this.ackMessage;
    // The very message last encoded as an acknowledgement: a heartbeat
    // answered in the gateway is answered with the same object every time
    // (heartbeat-answers.ts), so its fields need no second look (docs/performance.md §25).
    if (cached === message) return this.ackFrame!;
    const ack = isAcknowledgement(message);
    if (ack && cached && cached.capabilities === message.capabilities && bytesEqual(cached.instanceUid, message.instanceUid)) {
      // Equal to what the frame says, so the newer object stands for it (the older one may go).
      this.ackMessage = message;
      return this.ackFrame!;
    }
    const { bytes, payloadLength } = encodeServerWebSocketFrame(message);
    // The spec forbids sending a ServerToAgent above the agent's limit; ours
    // is the same configured limit in both directions.
    checkOutboundSize(payloadLength, this.maxMessageBytes);
    if (ack) {
      this.ackMessage = message;
      this.ackFrame = bytes;
    }
    return bytes;
  }

  /** Whether the socket is open: no close frame sent or received, not ending. */
  get isOpen(): boolean {
    return this.socket.readyState === OPEN;
  }

  /**
   * We stopped reading from the socket because the peer does not read our
   * writes (a large reply on a slow link): its heartbeats wait unread, so
   * their absence says nothing; checkAlive judges such a peer by whether it
   * takes our writes.
   */
  get heartbeatsUnread(): boolean {
    return (this.socket.pausedFor & PAUSED_FOR_WRITES) !== 0;
  }

  /** Starts the closing handshake; a reason longer than a close frame holds is cut (closeReason). */
  close(code: number, reason: string): void {
    this.socket.close(code, closeReason(reason));
  }

  /** Drops the socket without a close handshake (a shutdown whose grace period ran out). */
  terminate(): void {
    this.socket.terminate();
  }

  /**
   * Checks liveness once per ping interval: a peer that has not answered the
   * previous ping (nor sent anything) since is half-open — its TCP
   * connection may look fine to us for hours — so the socket is terminated,
   * which closes the connection and marks the agent disconnected. Returns
   * false when it did so. A socket the agent sent a message on since the
   * last check is not pinged: the message proved it, and an idle fleet's
   * heartbeats (every 30 s, the default ping interval too) would otherwise
   * cost a ping and a pong each, doubling the writes and reads of an idle
   * agent (docs/performance.md §24). So a half-open socket is terminated
   * two to three intervals after its last message (one to two before).
   */
  checkAlive(): boolean {
    if (this.spoke) {
      this.spoke = false;
      this.pinged = false;
      return true;
    }
    // While we stopped reading from the socket only because our own queue is
    // full, its pong sits unread in the buffer: not the peer's fault, so not
    // a miss. Stopped because the peer does not read our writes
    // (PAUSED_FOR_WRITES), it is not excused by that alone: our ping waits
    // behind what it has not read, and a peer that has taken none of it for
    // two ping intervals is as good as gone, whatever it still sends. One
    // that takes it slowly (a slow link carrying one large reply, its
    // heartbeats unread behind it meanwhile) counts as having answered
    // (ServerWebSocket.tookWritesSinceLastLook), as a pong would.
    if (this.pinged && !this.alive && this.socket.pausedFor !== PAUSED_FOR_QUEUE && !this.socket.tookWritesSinceLastLook()) {
      this.socket.terminate();
      return false;
    }
    this.alive = false;
    this.pinged = true;
    this.socket.ping();
    return true;
  }

}
