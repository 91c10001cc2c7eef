import { LogRateLimit } from "@fleetplane/platform";

/** Where the lines go: a Logger (pino) is one. */
export interface WarningLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * What a per-input warning is about: each a label of
 * fleetplane_opamp_warnings_total and a key of the rate limit.
 */
export type WarningKind =
  /** A body or frame that is no AgentToServer (bad framing, protobuf or gzip). */
  | "unreadable-message"
  /** A message over --max-message-bytes. */
  | "message-too-large"
  /** An instance_uid that is not 16 bytes. */
  | "bad-instance-uid"
  /** A message agent-service refused as malformed (InvalidArgument). */
  | "rejected-message"
  /** A message over one of the content limits (agent-message-limits.ts). */
  | "message-over-limit"
  /** agent-service could not be reached; the agent was told to retry. */
  | "agent-service-unavailable"
  /** A reply that could not be sent for another reason than the agent hanging up. */
  | "reply-not-sent"
  /** A connection that sent no request within --handshake-timeout-seconds. */
  | "handshake-timeout"
  /** A WebSocket that sent no AgentToServer within --first-message-timeout-seconds. */
  | "first-message-timeout"
  /** A connection refused because the gateway holds --max-connections. */
  | "connection-limit"
  /** A new agent refused by --new-agents-per-second-per-source or --new-agents-per-second. */
  | "new-agent-rate"
  /** An agent session refused because --max-connecting-agents first messages were still unanswered. */
  | "connecting-limit"
  /** An agent whose credential was refused (401), or that spoke for an instance UID bound to another credential. */
  | "agent-auth-refused"
  /** A WebSocket terminated because its peer did not read what we sent (ServerWebSocketLimits.maxUnsentBytes). */
  | "unread-replies";

/** Counts each warning, whether or not its line is written. */
export interface WarningCounter {
  count(kind: WarningKind): void;
}

/** Sources beyond this many in one interval share one key per kind (memory stays bounded under a spray of addresses). */
const MAX_SOURCES = 10_000;
const OTHER_SOURCES = "(other sources)";

/**
 * Warnings about what agents send, at most one line per (kind, source
 * address) per interval (the platform's LogRateLimit). Malformed input is
 * cheap to send and was a line each (163,000 lines, 59 MB, in 5.5 minutes of
 * fuzzing): now the first of a window is written, the rest counted, and the
 * count written with the next line of that key, or by `flush` once the
 * window is over. Every warning is also counted per kind (WarningCounter, a
 * Prometheus counter), so nothing suppressed is invisible.
 */
export class RateLimitedWarnings {
  private readonly limit: LogRateLimit;

  constructor(
    private readonly logger: WarningLog,
    private readonly counter: WarningCounter,
    /** Length of a window in milliseconds. */
    private readonly intervalMs: number,
    now: () => number = Date.now,
  ) {
    this.limit = new LogRateLimit({ intervalMs, now });
  }

  /** A warning about input from `source` (an address, without port). */
  warn(kind: WarningKind, source: string, fields: Record<string, unknown>, message: string): void {
    this.counter.count(kind);
    const extra = this.limit.take(this.keyOf(kind, source));
    if (extra) this.logger.warn({ ...fields, kind, source, ...extra }, message);
  }

  /**
   * Writes the counts of windows that ended with warnings not yet written,
   * and forgets ended windows. Called on a timer (about once per interval).
   */
  flush(): void {
    for (const { key, suppressed } of this.limit.ended()) {
      const [kind, source] = key.split("\u0000") as [WarningKind, string];
      this.logger.warn({ kind, source, suppressed, intervalMs: this.intervalMs }, "more warnings of this kind from this source were not logged (rate limit)");
    }
  }

  /** Keys being tracked (for tests and the bound). */
  get size(): number {
    return this.limit.size;
  }

  private keyOf(kind: WarningKind, source: string): string {
    const key = `${kind}\u0000${source}`;
    if (this.limit.size < MAX_SOURCES || this.limit.has(key)) return key;
    return `${kind}\u0000${OTHER_SOURCES}`;
  }
}

/** The address part of "address:port" (IPv4 or IPv6), the source a warning is counted against. */
export function sourceAddress(remoteAddress: string): string {
  const colon = remoteAddress.lastIndexOf(":");
  return colon > 0 ? remoteAddress.slice(0, colon) : remoteAddress;
}
