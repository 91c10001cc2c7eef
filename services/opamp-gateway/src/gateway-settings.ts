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
}

export const GATEWAY_DEFAULTS = {
  leaseSeconds: 30,
  paths: ["/v1/opamp", "/api/v1/opamp"],
  maxMessageBytes: 64 * 1024 * 1024,
  heartbeatMissedIntervals: 3,
  defaultHeartbeatIntervalMs: 30_000,
  wsPingIntervalMs: 30_000,
  retryAfterMs: 30_000,
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
  };
}
