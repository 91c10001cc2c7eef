import type { AgentAuthMode } from "./agent-authentication.js";

/**
 * How a gateway treats agents: every setting of an opamp-gateway besides its
 * identity, address and dependencies, declared once. startGateway takes
 * these; standalone mode and a gateway run alone pass them through; the CLI
 * (services/fleetplane/src/command-options.ts) takes its flag defaults from
 * GATEWAY_DEFAULTS. A setting left unset or 0 gets its default, except where
 * 0 is said to mean something.
 */
export interface GatewaySettings {
  /**
   * Length of this gateway's lease, in seconds: agent-service presumes the
   * gateway dead (and its agents disconnected) this long after its last
   * renewal. Default 30.
   */
  leaseSeconds?: number;
  /** URL paths OpAMP is served on. Default /v1/opamp and /api/v1/opamp (the spec's and the collector's). */
  paths?: readonly string[];
  /**
   * Largest AgentToServer accepted and ServerToAgent sent, in bytes, after
   * decompression (the spec applies the limit in both directions). Default 64 MiB.
   */
  maxMessageBytes?: number;
  /**
   * Heartbeat intervals a silent agent may miss before it is marked
   * disconnected (see LivenessPolicy). Default 3.
   */
  heartbeatMissedIntervals?: number;
  /**
   * The heartbeat (and HTTP polling) interval assumed for an agent the server
   * gave none, in milliseconds. Default the spec's 30 s.
   */
  defaultHeartbeatIntervalMs?: number;
  /**
   * WebSocket ping interval in milliseconds; a peer that has not answered a
   * ping when the next one is due is terminated (half-open socket). 0: no
   * pings. Default 30 s.
   */
  wsPingIntervalMs?: number;
  /**
   * The retry hint given to agents when agent-service is unreachable or the
   * gateway is shutting down (RetryInfo, and Retry-After over HTTP), in
   * milliseconds. Default 30 s.
   */
  retryAfterMs?: number;
  /**
   * A WebSocket that has sent no admitted AgentToServer this long after its
   * upgrade is closed (1008): an idle socket otherwise holds a file
   * descriptor and counts as a connected agent forever. In milliseconds;
   * default 30 s.
   */
  firstMessageTimeoutMs?: number;
  /**
   * How long a new TCP connection may take to send complete HTTP request
   * headers (a poll, or a WebSocket upgrade), in milliseconds; then it is
   * closed. Default 10 s.
   */
  handshakeTimeoutMs?: number;
  /**
   * Agent sessions (WebSockets and HTTP agents) this gateway holds at most;
   * beyond it new WebSocket upgrades and polls of new HTTP agents get 503
   * with Retry-After, while connected agents keep being served. 0: no limit.
   * Default 15,000, below the common 20,000 open-files limit with room for
   * the HTTP sockets and handshakes in flight.
   */
  maxConnections?: number;
  /**
   * New agents admitted per second from one source address, and in total (a
   * token bucket each, holding one second's worth). "New": an instance UID
   * this gateway has not admitted recently (see NewAgentAdmission).
   * Refused: 429 with Retry-After over HTTP, error_response UNAVAILABLE with
   * RetryInfo over WebSocket. 0: no limit. Defaults 100 and 1,000: a gateway
   * restarting with 15,000 agents has them back within about 15 s plus one
   * retry interval; behind a proxy or NAT all agents share one source address.
   */
  newAgentsPerSecondPerSource?: number;
  newAgentsPerSecond?: number;
  /**
   * Agent sessions (a WebSocket's first message, an HTTP agent's first poll)
   * whose first message this gateway has handed to agent-service and not yet
   * answered, at most; beyond it new sessions are refused as over a rate
   * (503 with Retry-After over HTTP, error_response UNAVAILABLE with
   * RetryInfo over WebSocket) and connected agents keep being served. It
   * admits a flood at the rate agent-service answers instead of holding it
   * in memory (NewAgentAdmission). 0: no limit. Default 1,000: one second
   * of --new-agents-per-second's default, answered within a second.
   */
  maxConnectingAgents?: number;
  /**
   * Per-input warnings (malformed or refused input) are logged at most once
   * per kind and source address per this interval, in milliseconds; the rest
   * are counted (fleetplane_opamp_warnings_total). Default 60 s.
   */
  warningIntervalMs?: number;
  /**
   * What one AgentToServer may carry (AgentMessageLimits, checked before it is
   * decoded); over a limit it is answered BAD_REQUEST naming the limit's flag.
   * 0: no limit (not for the depth). Defaults: 1,000 attributes of at most
   * 16 KiB each, custom messages of 1 MiB, effective configs of 16 MiB, health
   * trees of 1,000 components and 10 levels.
   */
  maxDescriptionAttributes?: number;
  maxAttributeBytes?: number;
  maxCustomMessageBytes?: number;
  maxEffectiveConfigBytes?: number;
  maxHealthComponents?: number;
  maxHealthDepth?: number;
  /**
   * Likewise for package_statuses and available_components. 0: no limit
   * (not for the depth). Defaults: 1,000 packages with fields (names,
   * versions, hashes, error messages) of at most 16 KiB; 5,000 available
   * components in at most 10 levels and 4 MiB (a full collector distribution
   * announces a few hundred).
   */
  maxPackageStatuses?: number;
  maxPackageStatusBytes?: number;
  maxAvailableComponents?: number;
  maxAvailableComponentsDepth?: number;
  maxAvailableComponentsBytes?: number;
  /**
   * What agents must present (agent-authentication.ts): "token", an
   * enrollment token as `Authorization: Bearer`; "mtls", a client
   * certificate issued by the client CA (GatewayOptions.tls.clientCaFile);
   * "token+mtls", both; "none", nothing. Default "none" here; the CLI
   * defaults to "token" off loopback and refuses "none" there without
   * --allow-unauthenticated-agents.
   */
  agentAuth?: AgentAuthMode;
  /** How often credentials in use (tokens, client certificates) are checked again (a revoked one closes its connections), in milliseconds. Default 5 s. */
  agentTokenRecheckMs?: number;
  /**
   * Peers (addresses or CIDR ranges) whose X-Forwarded-Proto and
   * X-Forwarded-Host say which URL the agent used (a proxy that terminates
   * TLS in front of the gateway); from anyone else they are ignored. Default none.
   */
  trustedProxies?: readonly string[];
}

export const GATEWAY_DEFAULTS = {
  leaseSeconds: 30,
  paths: ["/v1/opamp", "/api/v1/opamp"],
  maxMessageBytes: 64 * 1024 * 1024,
  heartbeatMissedIntervals: 3,
  defaultHeartbeatIntervalMs: 30_000,
  wsPingIntervalMs: 30_000,
  retryAfterMs: 30_000,
  firstMessageTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  maxConnections: 15_000,
  newAgentsPerSecondPerSource: 100,
  newAgentsPerSecond: 1_000,
  maxConnectingAgents: 1_000,
  warningIntervalMs: 60_000,
  maxDescriptionAttributes: 1_000,
  maxAttributeBytes: 16 * 1024,
  maxCustomMessageBytes: 1024 * 1024,
  maxEffectiveConfigBytes: 16 * 1024 * 1024,
  maxHealthComponents: 1_000,
  maxHealthDepth: 10,
  maxPackageStatuses: 1_000,
  maxPackageStatusBytes: 16 * 1024,
  maxAvailableComponents: 5_000,
  maxAvailableComponentsDepth: 10,
  maxAvailableComponentsBytes: 4 * 1024 * 1024,
  agentAuth: "none",
  agentTokenRecheckMs: 5_000,
  trustedProxies: [],
} as const satisfies Required<GatewaySettings>;

/** Exactly the gateway settings of `o` (which may carry more), with the defaults filled in. */
export function gatewaySettings(o: GatewaySettings): Required<GatewaySettings> {
  const d = GATEWAY_DEFAULTS;
  return {
    leaseSeconds: o.leaseSeconds || d.leaseSeconds,
    paths: o.paths ?? d.paths,
    maxMessageBytes: o.maxMessageBytes || d.maxMessageBytes,
    heartbeatMissedIntervals: o.heartbeatMissedIntervals || d.heartbeatMissedIntervals,
    defaultHeartbeatIntervalMs: o.defaultHeartbeatIntervalMs || d.defaultHeartbeatIntervalMs,
    wsPingIntervalMs: o.wsPingIntervalMs ?? d.wsPingIntervalMs,
    retryAfterMs: o.retryAfterMs || d.retryAfterMs,
    firstMessageTimeoutMs: o.firstMessageTimeoutMs || d.firstMessageTimeoutMs,
    handshakeTimeoutMs: o.handshakeTimeoutMs || d.handshakeTimeoutMs,
    maxConnections: o.maxConnections ?? d.maxConnections,
    newAgentsPerSecondPerSource: o.newAgentsPerSecondPerSource ?? d.newAgentsPerSecondPerSource,
    newAgentsPerSecond: o.newAgentsPerSecond ?? d.newAgentsPerSecond,
    maxConnectingAgents: o.maxConnectingAgents ?? d.maxConnectingAgents,
    warningIntervalMs: o.warningIntervalMs || d.warningIntervalMs,
    maxDescriptionAttributes: o.maxDescriptionAttributes ?? d.maxDescriptionAttributes,
    maxAttributeBytes: o.maxAttributeBytes ?? d.maxAttributeBytes,
    maxCustomMessageBytes: o.maxCustomMessageBytes ?? d.maxCustomMessageBytes,
    maxEffectiveConfigBytes: o.maxEffectiveConfigBytes ?? d.maxEffectiveConfigBytes,
    maxHealthComponents: o.maxHealthComponents ?? d.maxHealthComponents,
    maxHealthDepth: o.maxHealthDepth || d.maxHealthDepth,
    maxPackageStatuses: o.maxPackageStatuses ?? d.maxPackageStatuses,
    maxPackageStatusBytes: o.maxPackageStatusBytes ?? d.maxPackageStatusBytes,
    maxAvailableComponents: o.maxAvailableComponents ?? d.maxAvailableComponents,
    maxAvailableComponentsDepth: o.maxAvailableComponentsDepth || d.maxAvailableComponentsDepth,
    maxAvailableComponentsBytes: o.maxAvailableComponentsBytes ?? d.maxAvailableComponentsBytes,
    agentAuth: o.agentAuth ?? d.agentAuth,
    agentTokenRecheckMs: o.agentTokenRecheckMs || d.agentTokenRecheckMs,
    trustedProxies: o.trustedProxies ?? d.trustedProxies,
  };
}
