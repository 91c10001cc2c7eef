import { LogRateLimit, type Logger } from "@fleetplane/platform";

export interface ReconcileQueueOptions {
  /** Runs at most this many at once. */
  concurrency: number;
  /** Must not throw (it logs its own failures). */
  work: (uid: string) => Promise<void>;
  /**
   * Agents waiting (queued, or delayed by `later`) at most; one more is
   * dropped, counted (`dropped`) and logged at most once per 10 s. Default
   * 200,000: twice the largest fleet measured on one replica
   * (docs/performance.md), so a restart that brings a whole fleet back drops
   * none; an agent is a key of ~100 bytes in a set, so the bound costs at
   * most ~20 MiB. A dropped agent is reconciled on its next reconnect.
   */
  maxWaiting?: number;
  logger: Logger;
}

/** Default of ReconcileQueueOptions.maxWaiting. */
export const DEFAULT_RECONCILE_MAX_WAITING = 200_000;

/** How long close() waits for the reconciliations running: well inside a shutdown's grace, and the audit drain's 30 s after it. */
export const CLOSE_WAIT_MS = 5_000;

/**
 * Background work keyed by agent, at most `concurrency` at once: the audit
 * reconciliation of agents coming back (agent-reports.ts), and of agents
 * whose admin change failed after it may have been stored (`later`). A
 * restart brings thousands back within seconds, and each reconciliation
 * asks the audit trail (command-service) and the store; unbounded, they
 * would all be in flight together, queueing behind each other and starving
 * the report path of the same store. An agent queued twice before its turn
 * is done once. What waits is bounded too (`maxWaiting`): a store that is
 * away fails every admin change, and each asks for a reconciliation.
 *
 * runBounded (@fleetplane/platform) caps work over a list known in advance;
 * here the work arrives one agent at a time, so workers take it from a set.
 */
export class ReconcileQueue {
  private readonly queued = new Set<string>();
  /** Agents `later` holds until their delay is over (not yet in `queued`), with their timers. */
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private closed = false;
  private workers = 0;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly maxWaiting: number;
  private readonly drops = new LogRateLimit({ intervalMs: 10_000 });
  /** Agents left out because the queue was full (for tests and metrics). */
  dropped = 0;

  constructor(private readonly o: ReconcileQueueOptions) {
    this.maxWaiting = o.maxWaiting ?? DEFAULT_RECONCILE_MAX_WAITING;
  }

  add(uid: string): void {
    if (this.closed || (!this.queued.has(uid) && !this.admit(uid))) return;
    this.queued.add(uid);
    if (this.workers < Math.max(1, this.o.concurrency)) void this.worker();
  }

  /**
   * `add` once `delayMs` has passed: for a change whose write may still land
   * (a store that timed out may apply it late), so the reconciliation reads
   * the agent as it ends up. An agent already delayed is not delayed twice.
   */
  later(uid: string, delayMs: number): void {
    if (this.closed || this.delayed.has(uid) || !this.admit(uid)) return;
    const timer = setTimeout(() => {
      this.delayed.delete(uid);
      this.add(uid);
    }, delayMs).unref();
    this.delayed.set(uid, timer);
  }

  /**
   * Takes nothing more and forgets what waits (queued and delayed: their
   * timers are cleared, so none fires into a store being closed), then
   * resolves once the reconciliations already running are done, or after
   * `waitMs` (default CLOSE_WAIT_MS) with a warning naming how many were
   * still running: one waiting on a command-service that hangs must not hold
   * the shutdown (the cached agents' flush comes after it). Call it before
   * the store closes. What it forgets or leaves is reconciled when those
   * agents next come back, as a dropped agent is.
   */
  async close(waitMs = CLOSE_WAIT_MS): Promise<void> {
    this.closed = true;
    for (const timer of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.queued.clear();
    // Not unref'd: with only hung work left, an unref'd timer would let the process end here, before the
    // store's flush and the audit drain that follow close().
    let timer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([this.idle().then(() => true), new Promise<false>((resolve) => (timer = setTimeout(resolve, waitMs, false)))]);
    clearTimeout(timer);
    if (!waited) this.o.logger.warn({ running: this.workers, waitedMs: waitMs }, "shutdown: audit reconciliations still running were left; the agents' records are reconciled when they next come back");
  }

  /** Agents waiting for their turn (queued or delayed, not counting those being worked on). */
  get waiting(): number {
    return this.queued.size + this.delayed.size;
  }

  /** Resolves when nothing is queued or running (shutdown, tests); delayed agents are not waited for. */
  idle(): Promise<void> {
    if (this.workers === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Whether one more agent may wait; counts and logs (rate-limited) one that may not. */
  private admit(uid: string): boolean {
    if (this.waiting < this.maxWaiting) return true;
    this.dropped++;
    const extra = this.drops.take("full");
    if (extra) {
      this.o.logger.warn({ agent: uid, waiting: this.waiting, dropped: this.dropped, ...extra }, "audit reconciliation queue is full; the agent's audit records are reconciled on its next reconnect");
    }
    return false;
  }

  private async worker(): Promise<void> {
    this.workers++;
    try {
      for (let next = this.take(); next !== undefined; next = this.take()) {
        await this.o.work(next).catch(() => undefined);
      }
    } finally {
      if (--this.workers === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private take(): string | undefined {
    for (const uid of this.queued) {
      this.queued.delete(uid);
      return uid;
    }
    return undefined;
  }
}
