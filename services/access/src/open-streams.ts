import type { Logger } from "@fleetplane/platform";

/** Why a stream's caller may no longer hold it open; the stream ends with this. */
export type Verdict = { allowed: true } | { allowed: false; error: Error };

/** A server stream the admin interceptor let in. */
export interface WatchedStream {
  /** Whose credential opened it ("key:<name>", "oidc:<subject>"). */
  identity: string;
  /** When the credential stops being accepted (OIDC: exp plus the clock skew); undefined: no end of its own. */
  validUntilMs?: number | undefined;
  /** Checks the caller again, as the interceptor would check a new call (the credential and the permission). */
  authorize(): Promise<Verdict>;
  /** Ends the stream with `error` (idempotent). */
  end(error: Error): void;
}

export interface OpenStreamsOptions {
  /**
   * How often every open stream's caller is checked again, whatever notices
   * say: the bound for changes no notice brought (a lost NATS notice, a
   * replica without a bus). Default 15 000 ms.
   */
  recheckIntervalMs?: number;
  /** Where checks that could not be made (the store down) are logged. */
  logger: Logger;
  /** Told when a stream is watched, unwatched, and ended by a check (with the error's name). For /metrics. */
  observe?: { opened(): void; closed(): void; ended(error: Error): void };
}

// setTimeout's longest wait (~24.8 days); a token that ends later is caught by a periodic check.
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * Every server stream (WatchAgents, and any added later) opened through the
 * admin interceptor, so that a credential revoked or expired after the stream
 * was let in ends it: at once on a notice for its identity (AccessChanges),
 * at the token's expiry for OIDC, and otherwise at the next periodic check.
 */
export class OpenStreams {
  private readonly streams = new Set<WatchedStream>();
  private readonly expiryTimers = new Map<WatchedStream, NodeJS.Timeout>();
  private interval: NodeJS.Timeout | undefined;

  constructor(private readonly o: OpenStreamsOptions) {}

  get size(): number {
    return this.streams.size;
  }

  /** Watches a stream until the returned function is called (when it ends, however). */
  add(stream: WatchedStream): () => void {
    this.streams.add(stream);
    this.o.observe?.opened();
    this.armExpiry(stream);
    if (!this.interval) {
      this.interval = setInterval(() => void this.recheck(), this.o.recheckIntervalMs ?? 15_000);
      this.interval.unref();
    }
    return () => this.remove(stream);
  }

  /** Checks the streams of one identity (a notice said it changed), or all of them. */
  async recheck(identity?: string): Promise<void> {
    const due = [...this.streams].filter((s) => identity === undefined || s.identity === identity);
    await Promise.all(due.map((s) => this.check(s)));
  }

  close(): void {
    for (const s of [...this.streams]) this.remove(s);
  }

  /**
   * Checks the stream when its credential ends. Timers run on a monotonic
   * clock and may fire a little before Date.now() reaches the end (and the
   * token would still verify): such an early timer is armed again.
   */
  private armExpiry(stream: WatchedStream): void {
    if (stream.validUntilMs === undefined) return;
    const inMs = stream.validUntilMs - Date.now();
    if (inMs > LONGEST_TIMER_MS) return;
    const timer = setTimeout(() => {
      if (!this.streams.has(stream)) return;
      if (Date.now() < stream.validUntilMs!) this.armExpiry(stream);
      else void this.check(stream);
    }, Math.max(0, inMs));
    timer.unref();
    this.expiryTimers.set(stream, timer);
  }

  private async check(stream: WatchedStream): Promise<void> {
    if (!this.streams.has(stream)) return;
    let verdict: Verdict;
    try {
      verdict = await stream.authorize();
    } catch (err) {
      // The store is down: the caller was let in and nothing says otherwise;
      // the next check decides. Ending every stream on an outage would make
      // every console reconnect into the same outage.
      this.o.logger.warn({ err, identity: stream.identity }, "could not check the caller of an open stream again; keeping it until the next check");
      return;
    }
    if (verdict.allowed) return;
    this.remove(stream);
    this.o.observe?.ended(verdict.error);
    stream.end(verdict.error);
  }

  private remove(stream: WatchedStream): void {
    if (!this.streams.delete(stream)) return;
    this.o.observe?.closed();
    clearTimeout(this.expiryTimers.get(stream));
    this.expiryTimers.delete(stream);
    if (this.streams.size === 0 && this.interval) {
      clearInterval(this.interval);
      this.interval = undefined;
    }
  }
}
