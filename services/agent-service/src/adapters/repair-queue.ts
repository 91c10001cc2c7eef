import { LogRateLimit, type Logger } from "@fleetplane/platform";

export interface RepairQueueOptions {
  /**
   * Repairs the documents of `ids` from what the store holds now (reads the
   * source, writes what is missing or differs, removes what has no source
   * any more); rejects when it could not
   * (the ids wait again). Must be idempotent: an id may be repaired twice.
   */
  repair: (ids: readonly string[]) => Promise<void>;
  /** What is waiting and why, rate-limited (a line per 10 s at most), and a line once all is repaired. */
  logger?: Logger;
  /** What is repaired, for the log lines ("agents' index documents"). */
  what: string;
  /** Delay before a repair; it doubles, up to `maxDelayMs`, while repairs fail. Defaults 500 ms and 10 s. */
  delayMs?: number;
  maxDelayMs?: number;
  /** Ids waiting at most; beyond, the oldest is given up (and counted in the log). Default 100,000. */
  maxWaiting?: number;
  /** Ids per repair call. Default 1,024. */
  chunk?: number;
  /** Runs `run` after `ms` (default: an unref'd setTimeout, so waiting ids never keep the process alive). */
  schedule?: (run: () => void, ms: number) => void;
}

/**
 * Ids whose derived documents may lag their source after a failed write,
 * repaired from the source once the store answers again: after a delay that
 * doubles while repairs fail, a chunk at a time. The repair reads what is
 * stored now rather than sending the failed write again, so nothing about
 * the order of writes matters: a write made meanwhile, a delete, an agent
 * created again under the same uid are all seen as they are. For an
 * agent's index document whose write failed after the agent's own was
 * stored, or whose removal failed after the agent's delete
 * (mongo-agent-index.ts), which otherwise only the next start would
 * repair. What is given up (over `maxWaiting`, or lost with the process) is
 * the next start's to repair.
 */
export class RepairQueue {
  private readonly waiting = new Set<string>();
  private readonly lines = new LogRateLimit({ intervalMs: 10_000 });
  private readonly firstDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxWaiting: number;
  private readonly chunk: number;
  private readonly schedule: (run: () => void, ms: number) => void;
  private delayMs: number;
  private scheduled = false;
  private givenUp = 0;
  private failing = false;

  constructor(private readonly o: RepairQueueOptions) {
    this.firstDelayMs = o.delayMs ?? 500;
    this.maxDelayMs = o.maxDelayMs ?? 10_000;
    this.maxWaiting = o.maxWaiting ?? 100_000;
    this.chunk = o.chunk ?? 1_024;
    this.delayMs = this.firstDelayMs;
    this.schedule = o.schedule ?? ((run, ms) => setTimeout(run, ms).unref());
  }

  /** Ids waiting for a repair (for tests). */
  get size(): number {
    return this.waiting.size;
  }

  /** A write of `id`'s documents failed with `err`: they are repaired later. */
  add(id: string, err: unknown): void {
    this.hold(id);
    this.failing = true;
    this.warn(err);
    this.arm();
  }

  private hold(id: string): void {
    this.waiting.delete(id); // to the end of the order: the newest
    this.waiting.add(id);
    if (this.waiting.size > this.maxWaiting) {
      this.waiting.delete(this.waiting.values().next().value!);
      this.givenUp++;
    }
  }

  private warn(err: unknown): void {
    const extra = this.lines.take("failed");
    if (extra) this.o.logger?.warn({ err: String(err), waiting: this.waiting.size, givenUp: this.givenUp, ...extra }, `could not write ${this.o.what}; repairing them once the store answers`);
  }

  private arm(): void {
    if (this.scheduled || this.waiting.size === 0) return;
    this.scheduled = true;
    this.schedule(() => void this.run(), this.delayMs);
  }

  private async run(): Promise<void> {
    const ids: string[] = [];
    for (const id of this.waiting) {
      if (ids.length >= this.chunk) break;
      ids.push(id);
    }
    for (const id of ids) this.waiting.delete(id);
    try {
      await this.o.repair(ids);
      this.delayMs = this.firstDelayMs;
      if (this.failing && this.waiting.size === 0) {
        this.failing = false;
        this.o.logger?.info({ givenUp: this.givenUp }, `repaired the ${this.o.what} whose write had failed`);
      }
    } catch (err) {
      for (const id of ids) if (!this.waiting.has(id)) this.hold(id);
      this.delayMs = Math.min(this.delayMs * 2, this.maxDelayMs);
      this.warn(err);
    }
    this.scheduled = false;
    this.arm();
  }
}
