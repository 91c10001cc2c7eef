import { LogRateLimit, type Logger } from "@fleetplane/platform";

/** One entry of the audit trail on its way: `command` keys its order; `entry` is what is sent. */
export interface QueuedAuditEntry<E> {
  command: string;
  entry: E;
  /** What the log line names when the entry is lost. */
  context: object;
}

/** What command-service said of one entry (WriteAuditBatch's per-entry result). */
export type AuditEntryAnswer = { outcome: "written" } | { outcome: "not_found" | "invalid"; message: string };

/** Why an entry never reached the trail (fleetplane_audit_entries_lost_total's `reason`). */
export type AuditLoss = "queue_full" | "refused" | "not_found" | "shutdown";

export interface AuditBatchOptions<E> {
  /** One call (WriteAuditBatch): one answer per entry, in order; rejects when the call failed as a whole. */
  send: (entries: E[]) => Promise<AuditEntryAnswer[]>;
  logger: Logger;
  /** Entries in one call at most. Default 500 (command-service takes 1,000). */
  maxBatch?: number;
  /** How long the first entry of a batch waits for others. Default 2 ms. */
  lingerMs?: number;
  /** Calls at once. Default 2. */
  inFlight?: number;
  /** Entries kept while command-service does not take them; more are dropped (and counted). Default 100,000. */
  maxQueued?: number;
  /** First wait after a failed call or a NOT_FOUND answer, doubled each time up to maxBackoffMs. Default 250 / 8,000 ms. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Tries of a move whose record command-service does not have (yet: another replica may still be sending it). Default 8. */
  notFoundTries?: number;
  /**
   * How long a new entry waits, before it may be sent, for a later entry of
   * its command that makes it unnecessary (`replaces`). Default: none (0 ms).
   */
  holdMs?: (entry: E) => number;
  /**
   * Whether `later` makes `earlier` — the last queued entry of the same
   * command, never sent — unnecessary: the same trail when only `later` is
   * written. `later` then takes its place in the queue. Default: never.
   */
  replaces?: (later: E, earlier: E) => boolean;
  /** Counts an entry lost (metrics). */
  lost?: (reason: AuditLoss, n: number) => void;
  /** Shortest gap between two log lines of one kind. Default 10 s. */
  logEveryMs?: number;
  now?: () => number;
}

interface Queued<E> extends QueuedAuditEntry<E> {
  /** Settled after the entry's first try (see `add`). */
  firstTried?: () => void;
  notFoundTries: number;
  /** Not sent before this time (a NOT_FOUND waiting its turn). */
  notBefore: number;
}

/**
 * The audit trail's entries gathered into batches, one WriteAuditBatch call
 * each, instead of one call per record or move: each call costs both
 * processes about the same whatever it carries (docs/performance.md §22).
 *
 * - **Size and time bounded.** A batch goes out `lingerMs` after its first
 *   entry, or at once when `maxBatch` entries wait; at most `inFlight`
 *   calls at once, and entries that arrive meanwhile go in the next batch.
 * - **Order per command.** A command's entries are sent in the order added:
 *   while one is in a call (or waits to be tried again), its later ones stay
 *   queued behind it; entries of one command in one batch are applied by
 *   command-service in their order. So a move never overtakes its record.
 * - **Nothing lost silently.** A call that fails puts its entries back at
 *   the head of the queue, in order, and sending pauses (backoff, doubling to
 *   `maxBackoffMs`), then retries — for as long as it takes. An entry
 *   refused alone (INVALID) is logged and dropped; a move of a command not
 *   (yet) recorded is tried again `notFoundTries` times (its record may be on
 *   its way from another replica), then logged and dropped. The queue is
 *   bounded (`maxQueued`): past it, new entries are dropped. Every loss is
 *   counted (`lost`) and logged, at most once per `logEveryMs` per kind,
 *   with the count since the last line.
 * - **One write where two say the same.** An entry may be held (`holdMs`)
 *   for a later entry of its command that replaces it (`replaces`): a
 *   config's "delivered" is followed, moments later, by its "applied", and
 *   the trail ends the same with only the second written — one database
 *   write per moved agent fewer in a rollout (docs/performance.md §40). Only
 *   an entry never sent is replaced, and only while it is its command's last.
 */
export class AuditBatches<E> {
  private queue: Array<Queued<E>> = [];
  /** Commands with an entry in a call now. */
  private readonly sending = new Map<string, number>();
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private pausedUntil = 0;
  private failures = 0;
  private idle: Array<() => void> = [];
  /** Each command's last queued entry, while it is held (holdMs) and never sent: what a later one may replace. */
  private readonly holding = new Map<string, Queued<E>>();
  private readonly logLimit: LogRateLimit;
  private readonly o: Required<Omit<AuditBatchOptions<E>, "lost" | "holdMs" | "replaces">> & Pick<AuditBatchOptions<E>, "lost" | "holdMs" | "replaces">;

  constructor(o: AuditBatchOptions<E>) {
    this.o = {
      maxBatch: 500,
      lingerMs: 2,
      inFlight: 2,
      maxQueued: 100_000,
      backoffMs: 250,
      maxBackoffMs: 8_000,
      notFoundTries: 8,
      logEveryMs: 10_000,
      now: Date.now,
      ...o,
    };
    this.logLimit = new LogRateLimit({ intervalMs: this.o.logEveryMs, now: this.o.now });
  }

  /** Entries waiting to be sent or in a call now. */
  get queued(): number {
    return this.queue.length + [...this.sending.values()].reduce((a, b) => a + b, 0);
  }

  /**
   * Queues an entry. Resolves after its first try: callers wait for a
   * healthy command-service, not for the retries of a sick one (and at once
   * when the queue is full and the entry is dropped).
   */
  add(entry: QueuedAuditEntry<E>): Promise<void> {
    if (this.queue.length >= this.o.maxQueued) {
      this.lose("queue_full", 1, { ...entry.context }, `audit: queue full (${this.o.maxQueued} entries waiting for command-service); new entries are dropped`);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const held = this.holding.get(entry.command);
      this.holding.delete(entry.command);
      if (held?.firstTried && this.o.replaces?.(entry.entry, held.entry)) {
        // In its place: the command's order is kept (nothing of it was queued after it).
        const settleHeld = held.firstTried;
        held.entry = entry.entry;
        held.context = entry.context;
        held.firstTried = () => (settleHeld(), resolve());
        held.notBefore = 0;
        this.hold(held);
        this.schedule();
        return;
      }
      // Not replaced: nothing can replace it any more (it is no longer its command's last), so it waits no longer.
      if (held?.firstTried) held.notBefore = 0;
      const q: Queued<E> = { ...entry, firstTried: resolve, notFoundTries: 0, notBefore: 0 };
      this.queue.push(q);
      this.hold(q);
      this.schedule();
    });
  }

  /**
   * Waits until every entry is written or lost; after `timeoutMs` (a
   * command-service that stays away) logs and counts what is still queued as
   * lost and stops trying. For shutdown.
   */
  async drain(timeoutMs = 30_000): Promise<void> {
    if (this.queued === 0) return;
    // Nothing is held for a later entry any more: none will come.
    for (const q of this.holding.values()) q.notBefore = 0;
    this.holding.clear();
    this.schedule();
    const idle = new Promise<boolean>((resolve) => this.idle.push(() => resolve(true)));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const drained = await Promise.race([idle, timeout]);
    clearTimeout(timer);
    if (drained) return;
    const left = this.queue.splice(0);
    this.holding.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const q of left) q.firstTried?.();
    this.o.lost?.("shutdown", left.length);
    this.o.logger.error({ entries: left.length, commands: left.slice(0, 20).map((q) => q.command) }, `audit: ${left.length} entries not written by shutdown (command-service did not take them within ${timeoutMs} ms); the audit trail misses them`);
  }

  /** Holds a queued entry for a later one of its command (holdMs), when it is to be held. */
  private hold(q: Queued<E>): void {
    const ms = this.o.holdMs?.(q.entry) ?? 0;
    if (ms <= 0) return;
    q.notBefore = this.o.now() + ms;
    this.holding.set(q.command, q);
  }

  /** Sets the timer for the next batch: soon after an entry may go, not before a pause ends; none while nothing can go until a call ends. */
  private schedule(): void {
    if (this.running >= this.o.inFlight || this.queue.length === 0) return; // a call's end schedules again
    const now = this.o.now();
    const soonest = this.soonest(now);
    if (soonest === Infinity) return;
    const ready = soonest > now ? soonest : this.queue.length >= this.o.maxBatch ? now : now + this.o.lingerMs;
    const at = Math.max(ready, this.pausedUntil);
    if (this.timer && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, Math.max(0, at - now));
  }

  /** The soonest a queued entry may go (`now` if one may go now; Infinity if all wait behind calls in flight). */
  private soonest(now: number): number {
    const held = new Set<string>();
    let soonest = Infinity;
    for (const q of this.queue) {
      if (held.has(q.command) || this.sending.has(q.command)) continue;
      if (q.notBefore <= now) return now;
      soonest = Math.min(soonest, q.notBefore);
      held.add(q.command);
    }
    return soonest;
  }

  private flush(): void {
    while (this.running < this.o.inFlight && this.o.now() >= this.pausedUntil) {
      const batch = this.take();
      if (batch.length === 0) break;
      this.running++;
      for (const q of batch) this.sending.set(q.command, (this.sending.get(q.command) ?? 0) + 1);
      void this.send(batch).finally(() => {
        this.running--;
        if (this.queued === 0) for (const resolve of this.idle.splice(0)) resolve();
        else this.schedule();
      });
    }
    this.schedule();
  }

  /**
   * The next batch, in queue order: an entry goes unless an earlier entry of
   * its command is in a call or waiting to be tried again (then it and its
   * command's later entries wait).
   */
  private take(): Array<Queued<E>> {
    const now = this.o.now();
    const held = new Set<string>();
    const batch: Array<Queued<E>> = [];
    const rest: Array<Queued<E>> = [];
    for (const q of this.queue) {
      if (batch.length >= this.o.maxBatch || held.has(q.command) || this.sending.has(q.command)) {
        rest.push(q);
        continue;
      }
      if (q.notBefore > now) {
        held.add(q.command);
        rest.push(q);
        continue;
      }
      if (this.holding.get(q.command) === q) this.holding.delete(q.command);
      batch.push(q);
    }
    // Replaced, not spliced: a spread of 100,000 entries would overflow the stack.
    this.queue = rest;
    return batch;
  }

  private async send(batch: Array<Queued<E>>): Promise<void> {
    let answers: AuditEntryAnswer[];
    try {
      answers = await this.o.send(batch.map((q) => q.entry)).finally(() => this.release(batch));
      if (answers.length !== batch.length) throw new Error(`command-service answered ${answers.length} of ${batch.length} entries`);
    } catch (err) {
      // Back at the head, in order, ahead of anything queued meanwhile (of
      // the same commands or not); sending pauses, then tries again.
      this.queue.unshift(...batch);
      const wait = Math.min(this.o.backoffMs * 2 ** this.failures, this.o.maxBackoffMs);
      this.failures++;
      this.pausedUntil = Math.max(this.pausedUntil, this.o.now() + wait);
      this.log("warn", "unavailable", { err: String(err), batch: batch.length, queued: this.queued, retryInMs: wait }, "audit: command-service did not take a batch; its entries stay queued and are sent again");
      for (const q of batch) this.settleFirstTry(q);
      return;
    }
    this.failures = 0;
    const again: Array<Queued<E>> = [];
    batch.forEach((q, i) => {
      const a = answers[i]!;
      this.settleFirstTry(q);
      if (a.outcome === "written") return;
      if (a.outcome === "invalid") return this.lose("refused", 1, { ...q.context, reason: a.message }, "audit: command-service refused an entry; the audit trail misses it");
      if (++q.notFoundTries >= this.o.notFoundTries) return this.lose("not_found", 1, { ...q.context, reason: a.message }, `audit: a state change of a command command-service has no record of, after ${q.notFoundTries} tries; the audit trail misses it`);
      q.notBefore = this.o.now() + Math.min(this.o.backoffMs * 2 ** (q.notFoundTries - 1), this.o.maxBackoffMs);
      again.push(q);
    });
    // Ahead of the later entries of their commands.
    if (again.length > 0) this.queue.unshift(...again);
  }

  /** The batch's commands no longer in a call. */
  private release(batch: Array<Queued<E>>): void {
    for (const q of batch) {
      const n = this.sending.get(q.command)! - 1;
      if (n === 0) this.sending.delete(q.command);
      else this.sending.set(q.command, n);
    }
  }

  private settleFirstTry(q: Queued<E>): void {
    q.firstTried?.();
    delete q.firstTried;
  }

  private lose(reason: AuditLoss, n: number, context: object, message: string): void {
    this.o.lost?.(reason, n);
    this.log("error", reason, context, message);
  }

  /** At most one line per kind per logEveryMs (LogRateLimit), saying how many it stands for. */
  private log(level: "warn" | "error", kind: string, context: object, message: string): void {
    const suppressed = this.logLimit.admit(kind);
    if (suppressed === undefined) return;
    this.o.logger[level]({ ...context, times: suppressed + 1 }, message);
  }
}
