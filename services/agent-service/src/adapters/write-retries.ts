import { LogRateLimit, type Logger } from "@fleetplane/platform";

/** A write by `id` that may be sent again: `revision` orders two writes of one id (the newer wins). */
export interface RetriedWrite {
  id: string;
  revision: bigint;
}

export interface WriteRetriesOptions<W extends RetriedWrite> {
  /** Sends one write; resolves however the store answered, rejects when it could not be sent (the write is tried again). */
  send: (write: W) => Promise<unknown>;
  /** What is waiting and why, rate-limited (a line per 10 s at most). */
  logger?: Logger;
  /** What the writes are, for the log lines ("agents' index documents"). */
  what: string;
  /** Delay before the first retry; it doubles, up to `maxDelayMs`, while retries fail. Defaults 500 ms and 10 s. */
  delayMs?: number;
  maxDelayMs?: number;
  /** Writes waiting at most; beyond, the oldest is given up (and counted in the log). Default 100,000. */
  maxWaiting?: number;
  /** Runs `run` after `ms` (default: an unref'd setTimeout, so waiting writes never keep the process alive). */
  schedule?: (run: () => void, ms: number) => void;
}

/**
 * Writes that failed, sent again until the store takes them: one per id (a
 * newer write of an id replaces the one waiting, and one superseded by a
 * write made meanwhile is dropped), all at once after a delay that doubles
 * while they keep failing. For derived data whose loss nobody would notice
 * otherwise: an agent's index document whose write failed after the agent's
 * own was stored (mongo-agent-index.ts), which only the next start would
 * repair. The sends must go only forward (an older revision never undoes a
 * newer one), so a retry that comes late is harmless.
 */
export class WriteRetries<W extends RetriedWrite> {
  private readonly waiting = new Map<string, W>();
  private readonly lines = new LogRateLimit({ intervalMs: 10_000 });
  private readonly firstDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxWaiting: number;
  private readonly schedule: (run: () => void, ms: number) => void;
  private delayMs: number;
  private scheduled = false;
  /** The ids of the writes being sent again, less those superseded meanwhile: only these wait again if they fail. */
  private sending = new Set<string>();
  private givenUp = 0;
  private failing = false;

  constructor(private readonly o: WriteRetriesOptions<W>) {
    this.firstDelayMs = o.delayMs ?? 500;
    this.maxDelayMs = o.maxDelayMs ?? 10_000;
    this.maxWaiting = o.maxWaiting ?? 100_000;
    this.delayMs = this.firstDelayMs;
    this.schedule = o.schedule ?? ((run, ms) => setTimeout(run, ms).unref());
  }

  /** Writes waiting for a retry (for tests and metrics). */
  get size(): number {
    return this.waiting.size;
  }

  /** `write` failed with `err`: it is sent again later, unless a newer write of its id is waiting or comes first. */
  retry(write: W, err: unknown): void {
    const held = this.waiting.get(write.id);
    if (held && held.revision >= write.revision) return;
    this.waiting.delete(write.id); // to the end of the order: the newest
    this.waiting.set(write.id, write);
    if (this.waiting.size > this.maxWaiting) {
      this.waiting.delete(this.waiting.keys().next().value!);
      this.givenUp++;
    }
    this.failing = true;
    const extra = this.lines.take("failed");
    if (extra) this.o.logger?.warn({ err: String(err), waiting: this.waiting.size, givenUp: this.givenUp, ...extra }, `could not write ${this.o.what}; retrying`);
    this.arm();
  }

  /** A newer write of `id` is being made (or the document is gone): the one waiting is not needed. */
  supersede(id: string): void {
    this.waiting.delete(id);
    this.sending.delete(id);
  }

  private arm(): void {
    if (this.scheduled || this.waiting.size === 0) return;
    this.scheduled = true;
    this.schedule(() => void this.run(), this.delayMs);
  }

  private async run(): Promise<void> {
    const batch = [...this.waiting.values()];
    this.waiting.clear();
    this.sending = new Set(batch.map((w) => w.id));
    const results = await Promise.allSettled(batch.map((w) => this.o.send(w)));
    let failed: unknown;
    results.forEach((r, i) => {
      if (r.status === "fulfilled") return;
      failed ??= r.reason;
      // Unless superseded meanwhile (a newer write was made, or the document is gone), or a newer write failed and waits.
      const w = batch[i]!;
      if (this.sending.has(w.id) && !this.waiting.has(w.id)) this.waiting.set(w.id, w);
    });
    this.sending.clear();
    this.scheduled = false;
    if (failed !== undefined) {
      this.delayMs = Math.min(this.delayMs * 2, this.maxDelayMs);
      const extra = this.lines.take("failed");
      if (extra) this.o.logger?.warn({ err: String(failed), waiting: this.waiting.size, givenUp: this.givenUp, ...extra }, `could not write ${this.o.what}; retrying`);
    } else {
      this.delayMs = this.firstDelayMs;
      if (this.failing && this.waiting.size === 0) {
        this.failing = false;
        this.o.logger?.info({ givenUp: this.givenUp }, `wrote the ${this.o.what} that had failed`);
      }
    }
    this.arm();
  }
}
