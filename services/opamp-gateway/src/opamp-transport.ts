import { randomBytes } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { gzipSync } from "node:zlib";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AgentCapabilities,
  AgentToServerSchema,
  ServerErrorResponseType,
  ServerToAgentSchema,
  type AgentToServer,
  type ServerToAgent,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { OutboundMessageTooLargeError, checkOutboundSize, errorReply, instanceUidProblem, retryAfterHeader } from "@fleetplane/opamp";
import { instanceUidToHex, type Logger } from "@fleetplane/platform";
import { renderMetrics, inSpan, readTlsFiles, watchTlsFiles, type TlsFiles } from "@fleetplane/platform-node";
import { SpanKind } from "@opentelemetry/api";
import { WebSocketServer } from "ws";
import { AgentRefusal, type AgentConnection } from "./agent-connection.js";
import type { AgentCredentials } from "./agent-authentication.js";
import { certificateTakesOver, certificateUidRefusal } from "./client-certificate.js";
import { MessageOverLimitError, checkAgentMessageLimits, checkAgentMessagePrefix, type AgentMessageLimits } from "./agent-message-limits.js";
import type { AnnouncedCapabilities } from "./announced-capabilities.js";
import type { GatewaySettings } from "./gateway-settings.js";
import { HttpAgentConnection } from "./http-connection.js";
import { BadEncodingError, readRequestBody } from "./http-body.js";
import { httpReplyStatus } from "./http-reply-status.js";
import { InboundMessageTooLargeError } from "./inbound-message-too-large.js";
import type { OpampCallbacks } from "./opamp-callbacks.js";
import type { LivenessPolicy } from "./agent-liveness.js";
import { GatewayMetrics } from "./gateway-metrics.js";
import type { AdmissionRefusal, NewAgentAdmission } from "./new-agent-admission.js";
import { sourceAddress, type RateLimitedWarnings } from "./rate-limited-warnings.js";
import { WebSocketAgentConnection } from "./websocket-connection.js";
import type { TrustedProxies } from "./trusted-proxies.js";
import { MalformedFrameError, decodeAgentFrame } from "./ws-framing.js";
import { completeWebSocketHandshake } from "./websocket-handshake.js";
import { CLOSE_TIMEOUT_MS, OPEN, PAUSED_FOR_QUEUE, WebSocketProtocolError, type ServerWebSocket, type ServerWebSocketEvents, type ServerWebSocketLimits } from "./server-websocket.js";
import { readWholeFramesFromSocket } from "./whole-binary-frames.js";
import { OpeningDeadlines } from "./opening-deadlines.js";
import { UPGRADE_PLACES, UPGRADE_WAITING, UpgradeBacklog, type UpgradePlace, type WaitingUpgrade } from "./upgrade-backlog.js";

/** The transport's settings; those picked from GatewaySettings as documented there. */
export interface OpampTransportOptions
  extends Required<Pick<GatewaySettings, "paths" | "maxMessageBytes" | "wsPingIntervalMs" | "firstMessageTimeoutMs" | "handshakeTimeoutMs" | "maxConnections" | "retryAfterMs">> {
  host: string;
  port: number;
  /**
   * When a silent agent is gone: an HTTP agent that has not polled, or a
   * WebSocket agent that declared ReportsHeartbeat and has sent nothing
   * (a hung agent keeps its socket open and answers pings), for this many
   * of its heartbeat intervals.
   */
  liveness: LivenessPolicy;
  /** The server capabilities announced in the error replies the transport makes itself. */
  capabilities: AnnouncedCapabilities;
  /** Prefix of connection ids, unique per gateway. */
  gatewayId: string;
  /** What one AgentToServer may carry, checked before it is decoded. */
  limits: AgentMessageLimits;
  /** Decides, once per connection, whether a new agent may come in. */
  admission: NewAgentAdmission;
  /** Where per-input warnings go (rate-limited, counted). */
  warnings: RateLimitedWarnings;
  logger: Logger;
  /** HTTPS and wss:// on the one port, the files reloaded when they change; plain HTTP without. */
  tls?: TlsFiles | undefined;
  /** Whose X-Forwarded-Proto/Host are believed (default: nobody's). */
  trustedProxies?: TrustedProxies;
  /**
   * The upgrade backlog's bounds (upgrade-backlog.ts): upgraded WebSockets
   * whose first message is unanswered, and upgrades waiting for a place.
   * Default UPGRADE_PLACES, UPGRADE_WAITING and PLACE_HOLD_MS; others in
   * tests. Waiting is bounded in time by firstMessageTimeoutMs.
   */
  upgradeBacklog?: { places: number; waiting: number; holdMs?: number; now?: () => number };
}

const PROTOBUF = "application/x-protobuf";
/** The challenge sent with a 401 (RFC 6750 §3). */
const BEARER_CHALLENGE = { "WWW-Authenticate": 'Bearer realm="opamp"' };
/** Bodies smaller than this go uncompressed even when the agent accepts gzip. */
const GZIP_MIN_BYTES = 1024;
const REPORTS_HEARTBEAT = BigInt(AgentCapabilities.AgentCapabilities_ReportsHeartbeat);
/**
 * Messages queued on one WebSocket (behind the one being handled) before we
 * stop reading from it; and their bytes: each may be --max-message-bytes
 * (64 MiB by default), so 32 of them could be 2 GiB for one connection.
 * Reading stops at either bound and goes on when both are under, so a
 * connection's queue holds at most WS_MAX_QUEUED_BYTES plus one message
 * (and what was left of the read that filled it). 4 MiB is hundreds of an
 * agent's ordinary reports; a larger one waits its turn unread.
 */
const WS_MAX_QUEUED = 32;
export const WS_MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/**
 * Our frames that may wait unsent on one WebSocket beyond one message of
 * --max-message-bytes (a reply or a push may be that large): past it the
 * peer is not reading, and the socket is terminated (ServerWebSocket.write).
 */
const WS_UNSENT_SLACK_BYTES = 1024 * 1024;

/**
 * WebSockets closed with 1011 because handling a message failed (a bug's
 * last stop, webSocketFailed): what they still send is dropped, neither
 * queued nor handled.
 * A WeakSet, not a field, so an agent's connection carries nothing for a path
 * that should never run.
 */
const failedWebSockets = new WeakSet<ServerWebSocket<WebSocketAgentConnection>>();

/**
 * The "OpAMP Server Lib" of the design: one HTTP/1.1 port; a POST with
 * Content-Type application/x-protobuf is plain-HTTP OpAMP, anything else on
 * an OpAMP path is a WebSocket upgrade (the spec's rule). The protocol rules
 * are applied here, each written once: framing in ws-framing.ts, the size
 * limits in @fleetplane/opamp (outbound) and http-body.ts / ServerWebSocket's maxPayload
 * (inbound), gzip in http-body.ts and writeReply, rejection with a status and
 * Retry-After from the callbacks' ConnectingDecision, the HTTP status of a
 * reply in http-reply-status.ts, what a message may carry in
 * agent-message-limits.ts (before decoding), new agents' admission in
 * new-agent-admission.ts; the connection limit and the first-message and
 * handshake timeouts here.
 */
export class OpampTransport {
  private readonly server: http.Server | https.Server;
  private stopWatchingTls = () => {};
  /** Refuses the WebSocket upgrades we do not accept (websocket-handshake.ts). */
  private readonly wss: WebSocketServer;
  private readonly webSocketLimits: ServerWebSocketLimits;
  private readonly httpAgents = new Map<string, HttpAgentConnection>();
  private readonly wsConnections = new Set<WebSocketAgentConnection>();
  private readonly timers: NodeJS.Timeout[] = [];
  private connectionSeq = 0;
  /** close() has begun: an upgrade whose onConnecting was still running is refused (503), not completed after the 1001s went out. */
  private closing = false;
  /** TCP connections that have sent nothing yet: one that stays silent past the handshake timeout is closed (it would hold a file descriptor for nothing). */
  private readonly silentSockets: OpeningDeadlines<Socket>;
  /**
   * WebSockets without an admitted AgentToServer yet: one would be held, and
   * counted as an agent, forever. Closed past the first-message timeout with
   * 1008 (RFC 6455 §7.4.1, policy violation): the framing is fine, so it is
   * no protocol error (1002); it is our rule that an agent speaks first, and
   * 1008 is the code for a rule of the endpoint's own with no more specific code.
   */
  private readonly unadmittedWebSockets: OpeningDeadlines<WebSocketAgentConnection>;
  /** WebSocket upgrades held before their 101 while UPGRADE_PLACES upgraded ones await their first answer (per process: each gateway worker has its own). */
  private readonly upgradeBacklog: UpgradeBacklog;
  private readonly idPrefix = `${randomBytes(3).toString("hex")}`;
  private readonly metrics = GatewayMetrics.get();
  /** A compressed body over a content limit is refused after its first MiB is inflated, not all of it. */
  private readonly inflatedPrefixCheck = { afterBytes: 1024 * 1024, check: (prefix: Uint8Array) => checkAgentMessagePrefix(prefix, this.options.limits) };

  constructor(
    private readonly options: OpampTransportOptions,
    private readonly callbacks: OpampCallbacks,
  ) {
    this.silentSockets = new OpeningDeadlines<Socket>(
      options.handshakeTimeoutMs,
      (socket) => socket.bytesRead > 0 || socket.destroyed,
      (socket) => {
        options.warnings.warn("handshake-timeout", socket.remoteAddress ?? "?", { timeoutMs: options.handshakeTimeoutMs }, "closed a connection that sent no request in time");
        socket.destroy();
      },
    );
    this.unadmittedWebSockets = new OpeningDeadlines<WebSocketAgentConnection>(
      options.firstMessageTimeoutMs,
      (conn) => conn.admitted,
      (conn) => {
        const timeoutMs = options.firstMessageTimeoutMs;
        options.warnings.warn("first-message-timeout", sourceAddress(conn.remoteAddress), { connection: conn.id, timeoutMs }, "closed a WebSocket that sent no AgentToServer in time");
        conn.close(1008, `no AgentToServer within ${timeoutMs / 1000} s`);
      },
    );
    // An upgrade may wait for a place as long as an upgraded WebSocket may stay silent: the agent is still opening.
    const bounds = options.upgradeBacklog ?? { places: UPGRADE_PLACES, waiting: UPGRADE_WAITING };
    this.upgradeBacklog = new UpgradeBacklog({ ...bounds, waitMs: options.firstMessageTimeoutMs });
    // Node checks headersTimeout and requestTimeout only this often (30 s by default).
    const connectionsCheckingInterval = Math.max(100, Math.min(1_000, options.handshakeTimeoutMs / 4));
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => void this.onRequest(req, res).catch((err: unknown) => this.failedRequest(req, res, err));
    if (options.tls) {
      // HTTP/1.1 only (WebSocket upgrades need it); the pair is read now, so
      // a missing file fails the start, and again whenever it changes.
      // With --agent-client-ca a client certificate is asked for and checked
      // against it, but the handshake goes on whatever it finds: OnConnecting
      // refuses a bad one with a 401 that names the reason
      // (client-certificate.ts), which a handshake alert cannot.
      const mtls = options.tls.clientCaFile ? { requestCert: true, rejectUnauthorized: false } : {};
      const server = https.createServer({ connectionsCheckingInterval, ...readTlsFiles(options.tls), ...mtls, ALPNProtocols: ["http/1.1"] }, onRequest);
      this.stopWatchingTls = watchTlsFiles(options.tls, (context) => server.setSecureContext(context), options.logger);
      this.server = server;
    } else {
      this.server = http.createServer({ connectionsCheckingInterval }, onRequest);
    }
    // Agents poll every 30 s by default: keep their sockets open longer than
    // that, so a poll does not race the server closing an idle connection.
    this.server.keepAliveTimeout = 120_000;
    // The handshake timeout, in two parts. Request headers (of a poll or an
    // upgrade) begun but not complete in time: Node answers 408 and closes
    // (headersTimeout, counted per request, so keep-alive idle time between
    // polls is not affected). A connection that sends no byte at all:
    // silentSockets below (on plain HTTP Node's check closes it too — the
    // transport spec's silent socket is closed with our sweep disabled —
    // but a TLS connection that never starts its handshake is not Node's
    // HTTP server's to see).
    this.server.headersTimeout = options.handshakeTimeoutMs;
    this.server.on("connection", (socket: Socket) => this.silentSockets.watch(socket));
    this.server.requestTimeout = 300_000;
    this.server.on("upgrade", (req, socket, head) => void this.onUpgrade(req, socket, head).catch((err: unknown) => this.failedUpgrade(req, socket, err)));
    // ws's server only refuses the upgrades completeWebSocketHandshake does not accept (its answers byte for byte); no WebSocket is made by it.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes, perMessageDeflate: false, clientTracking: false });
    this.webSocketLimits = { maxPayload: options.maxMessageBytes, closeTimeoutMs: CLOSE_TIMEOUT_MS, maxUnsentBytes: options.maxMessageBytes + WS_UNSENT_SLACK_BYTES };
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    // Often enough that an agent is caught within a fraction of the shortest
    // timeout we expect (agents told a longer interval are only caught later).
    const { missedIntervals, defaultIntervalMs } = this.options.liveness;
    const sweepMs = Math.max(250, Math.min(5_000, (missedIntervals * defaultIntervalMs) / 4));
    this.timers.push(
      setInterval(() => {
        this.expireHttpAgents();
        this.expireSilentWebSockets();
      }, sweepMs).unref(),
    );
    // The opening deadlines are acted on up to one sweep late: a quarter of the shorter timeout, 0.1–1 s.
    const openingSweepMs = Math.max(100, Math.min(1_000, Math.min(this.options.handshakeTimeoutMs, this.options.firstMessageTimeoutMs) / 4));
    this.timers.push(
      setInterval(() => {
        this.silentSockets.sweep();
        this.unadmittedWebSockets.sweep();
        this.upgradeBacklog.sweep();
      }, openingSweepMs).unref(),
    );
    if (this.options.wsPingIntervalMs > 0) {
      this.timers.push(setInterval(() => this.pingWebSockets(), this.options.wsPingIntervalMs).unref());
    }
    return (this.server.address() as { port: number }).port;
  }

  /** "wss" with --tls-cert, else "ws". */
  get webSocketScheme(): "ws" | "wss" {
    return this.options.tls ? "wss" : "ws";
  }

  get connectedWebSockets(): number {
    return this.wsConnections.size;
  }

  /** WebSocket upgrades held before their 101 by the upgrade backlog. */
  get heldUpgrades(): number {
    return this.upgradeBacklog.waiting;
  }

  get connectedHttpAgents(): number {
    return this.httpAgents.size;
  }

  /**
   * Whether a new agent session would exceed --max-connections. Checked for
   * new sessions only: at the limit, agents already connected keep being served.
   */
  private atConnectionLimit(): boolean {
    const max = this.options.maxConnections;
    return max > 0 && this.wsConnections.size + this.httpAgents.size >= max;
  }

  /**
   * A request whose handling threw (a bug, or a callback that failed in a
   * way nobody answered): 500 if nothing was sent yet, logged with the
   * error. Never an unhandled rejection: under Node's default that ends the
   * process, and every agent with it (the chaos fuzzer found one).
   */
  private failedRequest(req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
    this.options.logger.error({ err: String(err), stack: (err as Error | undefined)?.stack, method: req.method, url: req.url, remote: req.socket?.remoteAddress }, "failed to handle an OpAMP request");
    if (!res.headersSent) plain(res, 500, "internal error");
    else res.destroy();
  }

  private failedUpgrade(req: http.IncomingMessage, socket: Duplex, err: unknown): void {
    this.options.logger.error({ err: String(err), stack: (err as Error | undefined)?.stack, url: req.url, remote: req.socket?.remoteAddress }, "failed to handle a WebSocket upgrade");
    if (!socket.destroyed) rejectUpgrade(socket, 500, "internal error");
  }

  /** Headers telling a refused client when to come back (spec, "Throttling › Plain HTTP Transport"). */
  private retryAfter(retryAfterMs = this.options.retryAfterMs): Record<string, string> {
    return { "Retry-After": retryAfterHeader(retryAfterMs) };
  }

  /**
   * When a refused new session should come back. Refused for
   * --max-connecting-agents, a spread between half and one and a half times
   * the retry interval: those refusals come in floods (every agent of a
   * restarted gateway at once), and told one moment they would all come back
   * at the same moment — each wave admitting only the places free as it
   * arrives. Spread, they come back as the places free up.
   */
  private retryAfterRefusal(refusal: AdmissionRefusal): number {
    if (refusal !== "connecting") return this.options.retryAfterMs;
    return Math.round(this.options.retryAfterMs * (0.5 + Math.random()));
  }

  private warnConnectionLimit(req: http.IncomingMessage, transport: "ws" | "http"): void {
    this.options.warnings.warn("connection-limit", req.socket?.remoteAddress ?? "?", { transport, max: this.options.maxConnections }, "refused a new agent: the gateway holds --max-connections agents (503)");
  }

  /**
   * Graceful stop: no new connections, WebSocket agents get a 1001 "going
   * away" close frame, HTTP sessions end; waits up to `graceMs` for sockets.
   */
  async close(graceMs = 5_000): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    this.stopWatchingTls();
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Held upgrades would get their 101 as the closing sockets give their places back, after the 1001s went out.
    this.upgradeBacklog.refuseWaiting();
    for (const ws of this.wsConnections) ws.close(1001, "server shutting down");
    for (const conn of [...this.httpAgents.values()]) conn.close();
    this.server.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const ws of this.wsConnections) ws.terminate();
      this.server.closeAllConnections();
    }, graceMs);
    await stopped;
    // Upgraded sockets are not the HTTP server's to wait for: wait until every
    // WebSocket has finished its close handshake (or was terminated), so each
    // one's OnConnectionClose has queued its cleanup before we report done.
    while (this.wsConnections.size > 0) await new Promise((r) => setTimeout(r, 10));
    clearTimeout(timer);
  }

  /** Credentials of the agent sessions held now (their tokens are rechecked while held). */
  heldCredentials(): Set<string> {
    const held = new Set<string>();
    for (const c of [...this.wsConnections, ...this.httpAgents.values()]) {
      if (c.credentials.credential) held.add(c.credentials.credential);
      if (c.credentials.enrollmentCredential) held.add(c.credentials.enrollmentCredential);
    }
    return held;
  }

  /** Ends every session that authenticated with `credential` (a revoked or expired token, a revoked certificate): WebSockets close with 1008. */
  closeSessionsOf(credential: string, reason: string): void {
    const presented = (c: AgentConnection) => c.credentials.credential === credential || c.credentials.enrollmentCredential === credential;
    for (const c of this.wsConnections) if (presented(c)) c.close(1008, reason);
    for (const c of [...this.httpAgents.values()]) if (presented(c)) c.close();
  }

  private endpointOf(req: http.IncomingMessage, transport: "ws" | "http"): string {
    return endpointOf(req, transport, this.options.trustedProxies?.trusts(req.socket?.remoteAddress) ?? false);
  }

  /**
   * A connection id no other session of this gateway has had: a plain-HTTP
   * agent's session is named after its UID for the reader, and numbered too,
   * because a session that ends (a certificate takeover, an expiry) has its
   * record deleted later, from the cleanup queue, and must not delete the
   * record of the session that followed it.
   */
  private nextConnectionId(kind: "ws" | "http", label = ""): string {
    return `${this.options.gatewayId}/${kind}/${label ? `${label}-` : ""}${this.idPrefix}-${(++this.connectionSeq).toString(36)}`;
  }

  private isOpampPath(url: string | undefined): boolean {
    const path = (url ?? "").split("?")[0]!;
    return this.options.paths.includes(path);
  }

  // ---- WebSocket -----------------------------------------------------------

  private async onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Node's HTTP server takes its own 'error' listener off a socket it hands
    // to 'upgrade': until the WebSocket's own (or ws's refusal) is on, a reset
    // while onConnecting runs or the upgrade waits in the backlog would be an
    // uncaught exception that ends the process.
    socket.on("error", destroyOnError);
    if (!this.isOpampPath(req.url)) return rejectUpgrade(socket, 404, "not an OpAMP path");
    const decision = await this.callbacks.onConnecting(req);
    if (socket.destroyed) return;
    // Accepted now, it would get its 101 after close() sent the 1001s, and close() would wait for it.
    if (this.closing) return rejectUpgrade(socket, 503, "server shutting down; retry later", this.retryAfter());
    if (!decision.accept) return rejectUpgrade(socket, decision.status, decision.reason, decision.headers);
    if (this.atConnectionLimit()) {
      this.warnConnectionLimit(req, "ws");
      return rejectUpgrade(socket, 503, "too many agents on this gateway; retry later", this.retryAfter());
    }
    // The common case, a place free, goes on as before: nothing queued, no listener.
    const place = this.upgradeBacklog.take();
    if (place) return this.completeUpgrade(req, socket, head, decision.credentials, place);
    const waiting = this.waitingUpgrade(req, socket, (given) => this.completeUpgrade(req, socket, head, decision.credentials, given));
    if (this.upgradeBacklog.wait(waiting) === "refused") return this.refuseHeldUpgrade(req, socket);
    socket.once("close", waiting.left);
  }

  /** The 101, on a place of the upgrade backlog: the connection holds it until its first message is answered. */
  private completeUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, credentials: AgentCredentials, place: UpgradePlace): void {
    let upgraded = false;
    try {
      // Everything that may throw comes before the handshake: from it on, the socket's events reach webSocketEvents, which need the connection as its owner.
      const id = this.nextConnectionId("ws");
      const remote = remoteAddress(req);
      const endpoint = this.endpointOf(req, "ws");
      const ws = completeWebSocketHandshake(this.wss, req, socket, head, this.webSocketLimits, this.webSocketEvents);
      if (ws !== undefined) {
        upgraded = true;
        const conn = new WebSocketAgentConnection(id, remote, endpoint, credentials, ws, this.options.maxMessageBytes, this.metrics.bytesOut.ws);
        ws.owner = conn;
        socket.off("error", destroyOnError);
        this.onWebSocket(conn, ws, place);
      }
    } finally {
      // A refused request (a bad key, an old version: 400), or a throw, made no WebSocket: the place is free again.
      if (!upgraded) this.upgradeBacklog.release(place);
    }
  }

  /**
   * An upgrade held before its 101 (upgrade-backlog.ts): it goes on when a
   * place frees up, unless its socket closed meanwhile (then the place passes
   * on); it leaves the queue when its socket closes; refused, it is answered
   * as a session over --max-connecting-agents is.
   */
  private waitingUpgrade(req: http.IncomingMessage, socket: Duplex, upgrade: (place: UpgradePlace) => void): WaitingUpgrade & { left: () => void } {
    const waiting = {
      proceed: (place: UpgradePlace) => {
        socket.off("close", waiting.left);
        if (socket.destroyed) return this.upgradeBacklog.release(place);
        // Run from another connection's answer or close: a failure here is this upgrade's, answered as onUpgrade's would be.
        try {
          upgrade(place);
        } catch (err) {
          this.failedUpgrade(req, socket, err);
        }
      },
      refuse: () => {
        socket.off("close", waiting.left);
        this.refuseHeldUpgrade(req, socket);
      },
      left: () => this.upgradeBacklog.leave(waiting),
    };
    return waiting;
  }

  /** 503 with the spread retry hint and the warning of a session refused for --max-connecting-agents (retryAfterRefusal). */
  private refuseHeldUpgrade(req: http.IncomingMessage, socket: Duplex): void {
    if (socket.destroyed) return;
    const fields = { transport: "ws", limit: "upgrade backlog", upgradedUnanswered: this.upgradeBacklog.upgradedUnanswered, waiting: this.upgradeBacklog.waiting };
    this.options.warnings.warn("connecting-limit", req.socket?.remoteAddress ?? "?", fields, "refused a WebSocket upgrade: too many upgrades are waiting for agent-service to answer earlier agents (503)");
    rejectUpgrade(socket, 503, "too many agents connecting; retry later", this.retryAfter(this.retryAfterRefusal("connecting")));
  }

  /** The first message of `conn` is answered (or its socket closed first): its upgrade's place goes to the next waiting upgrade. */
  private firstMessageAnswered(conn: WebSocketAgentConnection): void {
    const place = conn.upgradePlace;
    if (place === undefined) return;
    conn.upgradePlace = undefined;
    this.upgradeBacklog.release(place);
  }

  private onWebSocket(conn: WebSocketAgentConnection, ws: ServerWebSocket<WebSocketAgentConnection>, place: UpgradePlace): void {
    conn.upgradePlace = place;
    this.wsConnections.add(conn);
    this.callbacks.onConnected(conn);
    this.unadmittedWebSockets.watch(conn);
    // A report that arrives as one whole binary frame (nearly all) skips the socket's stream.
    readWholeFramesFromSocket(ws);
  }

  /**
   * A WebSocket's events: one object for every socket, which finds the
   * connection on the socket (`owner`); a closure per listener per socket
   * was ~0.3 KiB of a worker's memory per agent (docs/performance.md §41).
   *
   * One message at a time per connection, so replies keep the order of
   * the reports they answer: a message that arrives while another is
   * handled waits in conn.waiting, and the loop that handles the first
   * drains it (drainWebSocket) — one promise per burst rather than a
   * promise chain link per message. A message answered at once (a
   * heartbeat the gateway acknowledges itself) makes no promise at all.
   * The burst's promise is conn.handling, which the close cleanup waits
   * for (AgentConnection.settled).
   */
  private readonly webSocketEvents: ServerWebSocketEvents<WebSocketAgentConnection> = ((transport: OpampTransport) => ({
    message(ws: ServerWebSocket<WebSocketAgentConnection>, data: Buffer, isBinary: boolean): void {
      const conn = ws.owner!;
      conn.spoke = true;
      transport.metrics.receivedBy.ws.inc();
      transport.metrics.bytesIn.ws.inc(data.length);
      // After a failed handler's 1011 (webSocketFailed) what the peer still sends is dropped (a field compare first: the set is for a bug's path).
      if (ws.readyState !== OPEN && failedWebSockets.has(ws)) return;
      if (conn.handling !== undefined) {
        const waiting = (conn.waiting ??= []);
        waiting.push({ data, isBinary });
        conn.waitingBytes += data.length;
        if (waiting.length >= WS_MAX_QUEUED || conn.waitingBytes >= WS_MAX_QUEUED_BYTES) ws.pause(PAUSED_FOR_QUEUE);
        return;
      }
      try {
        const pending = transport.onWebSocketMessage(conn, data, isBinary);
        if (pending !== undefined) conn.handling = transport.drainWebSocket(conn, ws, pending);
        else transport.firstMessageAnswered(conn);
      } catch (err) {
        transport.webSocketFailed(conn, ws, err);
      }
    },
    pong(ws: ServerWebSocket<WebSocketAgentConnection>): void {
      ws.owner!.alive = true;
    },
    error(ws: ServerWebSocket<WebSocketAgentConnection>, err: WebSocketProtocolError): void {
      transport.callbacks.onReadMessageError(ws.owner!, transport.socketError(err));
    },
    stalled(ws: ServerWebSocket<WebSocketAgentConnection>, unsentBytes: number): void {
      const conn = ws.owner!;
      const fields = { agent: conn.agent || undefined, connection: conn.id, unsentBytes, maxUnsentBytes: transport.webSocketLimits.maxUnsentBytes };
      transport.options.warnings.warn("unread-replies", sourceAddress(conn.remoteAddress), fields, "terminated a WebSocket whose peer does not read what we send");
    },
    close(ws: ServerWebSocket<WebSocketAgentConnection>): void {
      const conn = ws.owner!;
      transport.unadmittedWebSockets.forget(conn);
      transport.wsConnections.delete(conn);
      transport.firstMessageAnswered(conn);
      transport.callbacks.onConnectionClose(conn);
    },
  }))(this);

  /** Handles the messages that waited for `first` (onWebSocket), in order, then clears conn.handling. */
  private async drainWebSocket(conn: WebSocketAgentConnection, ws: ServerWebSocket<WebSocketAgentConnection>, first: Promise<void>): Promise<void> {
    try {
      await first;
      while (conn.waiting !== undefined && conn.waiting.length > 0) {
        const next = conn.waiting.shift()!;
        conn.waitingBytes -= next.data.length;
        if ((ws.pausedFor & PAUSED_FOR_QUEUE) !== 0 && conn.waiting.length < WS_MAX_QUEUED && conn.waitingBytes < WS_MAX_QUEUED_BYTES) ws.resume(PAUSED_FOR_QUEUE);
        await this.onWebSocketMessage(conn, next.data, next.isBinary);
      }
    } catch (err) {
      this.webSocketFailed(conn, ws, err);
    } finally {
      conn.handling = undefined;
    }
  }

  /** onWebSocketMessage answers every fault itself; this is a bug's last stop, not a path. */
  private webSocketFailed(conn: WebSocketAgentConnection, ws: ServerWebSocket<WebSocketAgentConnection>, err: unknown): void {
    this.options.logger.error({ connection: conn.id, err: String(err), stack: (err as Error | undefined)?.stack }, "WebSocket message handling failed");
    conn.waiting = undefined;
    conn.waitingBytes = 0;
    conn.close(1011, "internal error");
    // The queue it paused for is gone: read again, so the peer's close frame
    // ends the socket now rather than the close timeout 30 s later; what the
    // peer sent before it is not queued again (nothing can be answered now).
    failedWebSockets.add(ws);
    ws.resume(PAUSED_FOR_QUEUE);
  }

  /** Handles one message: at once (undefined), or by the promise returned. */
  private onWebSocketMessage(conn: WebSocketAgentConnection, data: Buffer, isBinary: boolean): Promise<void> | undefined {
    let message: AgentToServer;
    try {
      if (!isBinary) throw new MalformedFrameError("OpAMP WebSocket messages must be binary frames");
      message = decodeAgentFrame(data, this.options.limits);
    } catch (err) {
      this.metrics.decodeErrorsBy.ws.inc();
      const reply = this.callbacks.onReadMessageError(conn, err as Error);
      if (reply) this.sendNow(conn, reply);
      return;
    }
    const wrongUid = this.certificateUidRefusal(conn.credentials, message, conn.remoteAddress, "ws");
    // 1008, as for a UID bound to another credential (below).
    if (wrongUid) {
      conn.close(1008, wrongUid);
      return;
    }
    const admission = conn.admitted ? "earlier" : this.admitWebSocketAgent(conn, message);
    if (admission === "refused") return;
    conn.liveness.heard(Date.now());
    // Capabilities come with (nearly) every message; an omitted field keeps what we knew.
    if (message.capabilities !== 0n) conn.reportsHeartbeat = (message.capabilities & REPORTS_HEARTBEAT) !== 0n;
    const acknowledged = admission === "earlier" ? this.callbacks.answerHeartbeat?.(conn, message) : undefined;
    if (acknowledged) {
      this.sendNow(conn, acknowledged);
      this.metrics.repliesBy.ws.inc();
      return;
    }
    return this.answerOnWebSocket(conn, message, admission);
  }

  /** A WebSocket message onMessage answers: the reply sent, or the socket closed for a refusal. */
  private async answerOnWebSocket(conn: WebSocketAgentConnection, message: AgentToServer, admission: "admitted" | "earlier" | "unnamed"): Promise<void> {
    try {
      const started = performance.now();
      const reply = await this.answer(conn, message, "ws");
      // 1008 (policy violation), as for the first-message timeout: the socket
      // was authenticated, but not for the instance UID it named.
      if (reply instanceof AgentRefusal) return conn.close(1008, reply.reason);
      this.sendNow(conn, reply);
      this.metrics.repliesBy.ws.inc();
      this.metrics.reportSeconds.observe((performance.now() - started) / 1000);
    } finally {
      this.firstMessageAnswered(conn);
      if (admission === "admitted") this.options.admission.answered();
    }
  }

  /** The agent's message handed to the service, traced; the agent counts as waiting on us, not silent, until it is answered. */
  private async answer(conn: WebSocketAgentConnection | HttpAgentConnection, message: AgentToServer, transport: "ws" | "http"): Promise<ServerToAgent | AgentRefusal> {
    conn.liveness.answering();
    try {
      return await inSpan("opamp.message", { kind: SpanKind.SERVER, attributes: () => spanAttributes(message, transport) }, () => this.callbacks.onMessage(conn, message));
    } finally {
      conn.liveness.answered(Date.now());
    }
  }

  /**
   * The first message naming a valid instance UID decides whether the agent
   * may come in (NewAgentAdmission); admitted, it holds a connecting place
   * until it is answered. Refused: error_response UNAVAILABLE with
   * RetryInfo (spec, "Throttling › WebSocket Transport": the client should
   * disconnect and come back after it); the socket stays for the client to
   * close, and the first-message timeout closes it if it does not. A message
   * with an invalid UID goes on to be answered BAD_REQUEST, admitting nothing.
   */
  private admitWebSocketAgent(conn: WebSocketAgentConnection, message: AgentToServer): "admitted" | "refused" | "unnamed" {
    if (instanceUidProblem(message.instanceUid) !== undefined) return "unnamed";
    const uid = instanceUidToHex(message.instanceUid);
    const refusal = this.options.admission.admit(uid, sourceAddress(conn.remoteAddress));
    if (refusal) {
      this.warnNewAgentRefused(refusal, sourceAddress(conn.remoteAddress), uid, "ws");
      this.sendNow(conn, this.newAgentRefusedReply(message.instanceUid, this.retryAfterRefusal(refusal)));
      this.callbacks.onAdmissionRefused(conn);
      return "refused";
    }
    conn.admitted = true;
    this.unadmittedWebSockets.forget(conn);
    return "admitted";
  }

  /**
   * A connection whose client certificate names an instance UID speaks for
   * that agent only: a message for another is refused before it is admitted,
   * decoded further or handed on (the refusal is logged once per source and interval).
   */
  private certificateUidRefusal(credentials: AgentCredentials, message: AgentToServer, remote: string, transport: "ws" | "http"): string | undefined {
    if (!credentials.certificateUid) return undefined;
    const uid = instanceUidProblem(message.instanceUid) === undefined ? instanceUidToHex(message.instanceUid) : "(invalid)";
    const refusal = certificateUidRefusal(credentials.certificateUid, uid);
    if (refusal) this.options.warnings.warn("agent-auth-refused", sourceAddress(remote), { agent: uid, certificateUid: credentials.certificateUid, transport }, "refused a message for another instance UID than the connection's client certificate names");
    return refusal;
  }

  private newAgentRefusedReply(instanceUid: Uint8Array, retryAfterMs = this.options.retryAfterMs): ServerToAgent {
    const type = ServerErrorResponseType.ServerErrorResponseType_Unavailable;
    return errorReply(instanceUid, this.options.capabilities.current, type, "too many new agents; retry later", retryAfterMs);
  }

  private warnNewAgentRefused(refusal: AdmissionRefusal, source: string, agent: string, transport: "ws" | "http"): void {
    if (refusal === "connecting") {
      const fields = { agent, transport, limit: "--max-connecting-agents", connecting: this.options.admission.connecting };
      return this.options.warnings.warn("connecting-limit", source, fields, "refused an agent session: --max-connecting-agents first messages are still waiting for agent-service");
    }
    const flag = refusal === "per-source" ? "--new-agents-per-second-per-source" : "--new-agents-per-second";
    this.options.warnings.warn("new-agent-rate", source, { agent, transport, limit: flag }, `refused a new agent: over ${flag}`);
  }

  /**
   * A message over maxPayload is refused by the WebSocket itself (it closes
   * with 1009); everywhere else it is our InboundMessageTooLargeError.
   */
  private socketError(err: WebSocketProtocolError): Error {
    if (err.kind !== "message-too-large") return err;
    return new InboundMessageTooLargeError(this.options.maxMessageBytes, "WebSocket message", { cause: err });
  }

  /** A reply on a WebSocket: written before this returns, with no promise to wait for. */
  private sendNow(conn: WebSocketAgentConnection, reply: ServerToAgent): void {
    try {
      conn.send(reply);
    } catch (err) {
      this.callbacks.onMessageResponseError(conn, reply, err as Error);
    }
  }

  private pingWebSockets(): void {
    for (const conn of this.wsConnections) {
      if (!conn.checkAlive()) this.options.logger.info({ agent: conn.agent || undefined, connection: conn.id, remote: conn.remoteAddress }, "terminated a WebSocket that did not answer a ping (half-open)");
    }
  }

  // ---- Plain HTTP ----------------------------------------------------------

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!this.isOpampPath(req.url)) return this.onOtherPath(req, res);
    if (req.method !== "POST") {
      return plain(res, 405, "OpAMP over HTTP uses POST with Content-Type application/x-protobuf; WebSocket agents use GET with Upgrade", { allow: "GET, POST" });
    }
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (contentType !== PROTOBUF) return plain(res, 415, `OpAMP over HTTP needs Content-Type ${PROTOBUF}`);

    const decision = await this.callbacks.onConnecting(req);
    if (!decision.accept) return plain(res, decision.status, decision.reason, decision.headers);
    const credentials = decision.credentials;

    let body: Uint8Array;
    let message: AgentToServer;
    this.metrics.receivedBy.http.inc();
    try {
      body = await readRequestBody(req, this.options.maxMessageBytes, this.inflatedPrefixCheck);
      this.metrics.bytesIn.http.inc(body.length);
      checkAgentMessageLimits(body, this.options.limits);
      message = fromBinary(AgentToServerSchema, body);
    } catch (err) {
      this.metrics.decodeErrorsBy.http.inc();
      const transient = new HttpAgentConnection(this.nextConnectionId("http", "unidentified"), remoteAddress(req), this.endpointOf(req, "http"), credentials, () => {});
      if (err instanceof InboundMessageTooLargeError) {
        this.callbacks.onReadMessageError(transient, err);
        res.setHeader("connection", "close");
        return plain(res, 413, err.message);
      }
      if (err instanceof MessageOverLimitError) {
        // A well-formed message over a content limit: an error the protocol
        // expresses (BAD_REQUEST), so 200 like every error_response.
        return this.writeReply(req, res, 200, this.callbacks.onReadMessageError(transient, err) ?? this.badRequest(err.message));
      }
      const cause = err instanceof BadEncodingError ? err : new MalformedFrameError(`AgentToServer does not decode: ${(err as Error).message}`, { cause: err });
      const reply = this.callbacks.onReadMessageError(transient, cause) ?? this.badRequest(cause.message);
      // 400, unlike a malformed but decoded message (200, http-reply-status.ts):
      // the body is not an AgentToServer at all (bad gzip, not protobuf), so
      // there is no agent to answer; the error_response is there for a human.
      return this.writeReply(req, res, 400, reply);
    }

    const started = performance.now();
    const wrongUid = this.certificateUidRefusal(credentials, message, remoteAddress(req), "http");
    if (wrongUid) return plain(res, 401, wrongUid, BEARER_CHALLENGE);
    const session = this.httpAgentFor(message, req, res, credentials);
    if (!session) return;
    const { conn } = session;
    let reply: ServerToAgent | AgentRefusal;
    try {
      reply = await this.answer(conn, message, "http");
    } finally {
      if (session.admitted) this.options.admission.answered();
    }
    if (reply instanceof AgentRefusal) {
      conn.close();
      return plain(res, 401, reply.reason, BEARER_CHALLENGE);
    }
    const { status, headers } = httpReplyStatus(reply);
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    if (message.agentDisconnect) conn.close();
    conn.liveness.sent(reply);
    this.writeReply(req, res, status, reply, conn);
    this.metrics.reportSeconds.observe((performance.now() - started) / 1000);
  }

  /** Besides OpAMP, the agent port answers probes and Prometheus (a gateway run alone has no other port). */
  private async onOtherPath(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === "/healthz") return plain(res, 200, "ok");
    if (req.method === "GET" && path === "/metrics") {
      const { contentType, body } = await renderMetrics();
      res.writeHead(200, { "content-type": contentType });
      res.end(body);
      return;
    }
    plain(res, 404, "not found: OpAMP is served on " + this.options.paths.join(" and "));
  }

  /**
   * The HTTP session of the agent that sent `message`, opened on its first
   * poll (`admitted`: it holds a connecting place until this poll is
   * answered); or undefined when a new session is refused, the refusal
   * answered: 503 at --max-connections and --max-connecting-agents (the
   * server is busy), 429 over the new-agent rates (the client is too fast;
   * spec, "Throttling › Plain HTTP Transport"), each with Retry-After and the
   * error_response in the body.
   */
  private httpAgentFor(message: AgentToServer, req: http.IncomingMessage, res: http.ServerResponse, credentials: AgentCredentials): { conn: HttpAgentConnection; admitted: boolean } | undefined {
    const valid = instanceUidProblem(message.instanceUid) === undefined;
    const uid = valid ? instanceUidToHex(message.instanceUid) : `invalid-${Buffer.from(message.instanceUid).toString("hex")}`;
    let conn = this.httpAgents.get(uid);
    if (conn && conn.credentials.credential !== credentials.credential && valid && certificateTakesOver(credentials, uid)) {
      // The agent is back with the certificate issued for it: its old
      // session ends, a new one (with the certificate) begins.
      conn.close();
      conn = undefined;
    }
    if (conn && conn.credentials.credential !== credentials.credential) {
      // Another credential speaking for an agent whose session this gateway
      // holds: refused before the session (its address, its liveness) is touched.
      this.options.warnings.warn("agent-auth-refused", req.socket?.remoteAddress ?? "?", { agent: uid, transport: "http" }, "refused a poll: its credential may not speak for this instance UID");
      plain(res, 401, "instance UID is bound to another credential", BEARER_CHALLENGE);
      return undefined;
    }
    if (conn) {
      conn.liveness.heard(Date.now());
      conn.remoteAddress = remoteAddress(req);
      return { conn, admitted: false };
    }
    if (this.atConnectionLimit()) {
      this.warnConnectionLimit(req, "http");
      for (const [name, value] of Object.entries(this.retryAfter())) res.setHeader(name, value);
      this.writeReply(req, res, 503, this.newAgentRefusedReply(message.instanceUid));
      return undefined;
    }
    const refusal = valid ? this.options.admission.admit(uid, req.socket?.remoteAddress ?? "?") : undefined;
    if (refusal) {
      this.warnNewAgentRefused(refusal, req.socket?.remoteAddress ?? "?", uid, "http");
      const retryAfterMs = this.retryAfterRefusal(refusal);
      for (const [name, value] of Object.entries(this.retryAfter(retryAfterMs))) res.setHeader(name, value);
      this.writeReply(req, res, refusal === "connecting" ? 503 : 429, this.newAgentRefusedReply(message.instanceUid, retryAfterMs));
      return undefined;
    }
    conn = new HttpAgentConnection(this.nextConnectionId("http", uid), remoteAddress(req), this.endpointOf(req, "http"), credentials, (c) => {
      if (this.httpAgents.get(uid) !== c) return;
      this.httpAgents.delete(uid);
      this.callbacks.onConnectionClose(c);
    });
    this.httpAgents.set(uid, conn);
    this.callbacks.onConnected(conn);
    return { conn, admitted: valid };
  }

  private writeReply(req: http.IncomingMessage, res: http.ServerResponse, status: number, reply: ServerToAgent, conn?: AgentConnection): void {
    let body: Uint8Array = toBinary(ServerToAgentSchema, reply);
    try {
      checkOutboundSize(body.length, this.options.maxMessageBytes);
    } catch (err) {
      if (!(err instanceof OutboundMessageTooLargeError)) throw err;
      if (conn) this.callbacks.onMessageResponseError(conn, reply, err);
      // The oversized body is never sent (spec, "Plain HTTP Message Size
      // Limits"); the agent gets an error_response in its place, with 200 like
      // every error_response (http-reply-status.ts), so that it can read it.
      const tooLarge = errorReply(reply.instanceUid, this.options.capabilities.current, ServerErrorResponseType.ServerErrorResponseType_Unknown, "reply too large for the configured message size limit");
      body = toBinary(ServerToAgentSchema, tooLarge);
      status = 200;
    }
    const headers: Record<string, string | number> = { "content-type": PROTOBUF };
    if (body.length >= GZIP_MIN_BYTES && acceptsGzip(req)) {
      body = gzipSync(body);
      headers["content-encoding"] = "gzip";
    }
    headers["content-length"] = body.length;
    this.metrics.repliesBy.http.inc();
    this.metrics.bytesOut.http.inc(body.length);
    res.writeHead(status, headers);
    res.end(body);
  }

  /** An error_response for a message no callback answered (the agent is unknown). */
  private badRequest(errorMessage: string): ServerToAgent {
    return errorReply(new Uint8Array(), this.options.capabilities.current, ServerErrorResponseType.ServerErrorResponseType_BadRequest, errorMessage);
  }

  private expireSilentWebSockets(): void {
    const now = Date.now();
    for (const conn of this.wsConnections) {
      // One closed already (its close frame out, the peer's awaited up to the close timeout) is not closed, nor logged, again each sweep;
      // one whose heartbeats we do not read (it does not read our writes) is left to checkAlive, which ends it if it takes none of them.
      if (conn.reportsHeartbeat && conn.isOpen && !conn.heartbeatsUnread && conn.liveness.isOverdue(now, this.options.liveness)) {
        const missed = this.options.liveness.missedIntervals;
        this.options.logger.info({ agent: conn.agent, connection: conn.id, silentMs: conn.liveness.silentMs(now), intervalMs: conn.liveness.intervalMs(this.options.liveness), missed }, "closing a WebSocket agent that missed its heartbeats");
        conn.close(1000, `missed ${missed} heartbeats`);
      }
    }
  }

  private expireHttpAgents(): void {
    const now = Date.now();
    for (const conn of [...this.httpAgents.values()]) {
      if (conn.liveness.isOverdue(now, this.options.liveness)) {
        this.options.logger.info({ agent: conn.agent, connection: conn.id, silentMs: conn.liveness.silentMs(now), intervalMs: conn.liveness.intervalMs(this.options.liveness) }, "an HTTP agent stopped polling; marking it disconnected");
        conn.close();
      }
    }
  }
}

function acceptsGzip(req: http.IncomingMessage): boolean {
  const ae = req.headers["accept-encoding"];
  return typeof ae === "string" && /(^|[\s,])gzip(\s*;\s*q=(?!0(\.0*)?\s*($|,))[\d.]+)?\s*($|,)/i.test(ae);
}

function plain(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
  res.end(text + "\n");
}

/** The upgrading socket's error listener until its WebSocket's own is on (onUpgrade): the socket is dropped; 'close' follows. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

function rejectUpgrade(socket: Duplex, status: number, reason: string, headers: Record<string, string> = {}): void {
  const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Error"}`, "Connection: close", "Content-Type: text/plain; charset=utf-8", `Content-Length: ${Buffer.byteLength(reason)}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  // Destroyed once the answer is out, as ws's abortHandshake does: end()
  // alone sends our FIN, but the server's sockets allow half-open, so a peer
  // that never ends its side would hold the socket (a file descriptor) for
  // as long as it likes — with no credential, at any rate.
  socket.once("finish", destroyAnswered);
  socket.end(lines.join("\r\n") + "\r\n\r\n" + reason);
}

function destroyAnswered(this: Duplex): void {
  this.destroy();
}

/**
 * The URL the agent used to reach us, as it would write it: behind a proxy
 * that terminates TLS (a peer of --trusted-proxies) the scheme and host come
 * from X-Forwarded-Proto and X-Forwarded-Host; from anyone else those headers
 * are ignored. Offered back as the destination of OpAMP connection settings
 * the server makes itself, so accepting them keeps the agent where it is.
 */
function endpointOf(req: http.IncomingMessage, transport: "ws" | "http", fromTrustedProxy: boolean): string {
  const proto = firstForwarded(req.headers["x-forwarded-proto"], fromTrustedProxy)?.toLowerCase();
  const secure = proto ? proto === "https" || proto === "wss" : Boolean((req.socket as { encrypted?: boolean } | null)?.encrypted);
  const scheme = transport === "ws" ? (secure ? "wss" : "ws") : secure ? "https" : "http";
  const host = firstForwarded(req.headers["x-forwarded-host"], fromTrustedProxy) ?? req.headers.host ?? `${req.socket?.localAddress}:${req.socket?.localPort}`;
  return `${scheme}://${host}${(req.url ?? "/").split("?")[0]}`;
}

/**
 * The first value of an X-Forwarded-* header, when a trusted proxy sent it.
 * A module function, not a closure in endpointOf: under tsx every closure
 * made is also named (esbuild's keepNames), a defineProperty per new agent.
 */
function firstForwarded(h: string | string[] | undefined, fromTrustedProxy: boolean): string | undefined {
  return fromTrustedProxy ? (Array.isArray(h) ? h[0] : h)?.split(",")[0]?.trim() || undefined : undefined;
}

/** The peer's address; "?" once the socket is gone (a read that failed after the client left). */
function remoteAddress(req: http.IncomingMessage): string {
  return `${req.socket?.remoteAddress ?? "?"}:${req.socket?.remotePort ?? "?"}`;
}

function spanAttributes(message: AgentToServer, transport: "ws" | "http"): Record<string, string> {
  return {
    "opamp.transport": transport,
    "opamp.instance_uid": instanceUidProblem(message.instanceUid) === undefined ? instanceUidToHex(message.instanceUid) : "invalid",
    "opamp.sequence_num": String(message.sequenceNum),
  };
}
