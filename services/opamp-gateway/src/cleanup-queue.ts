import { LogRateLimit, type Logger } from "@fleetplane/platform";

/**
 * Background work that must happen but must not block the caller — the
 * design's "Queue background cleanup; return immediately". The queue is
 * unbounded on purpose: dropping a cleanup would leave an agent "connected"
 * forever, so instead a failed job is retried with backoff, and a growing
 * backlog is logged loudly rather than silently shed.
 */
export class CleanupQueue {
  private readonly pending: Array<{ name: string; run: () => Promise<void>; attempt: number }> = [];
  private running = 0;
  private idleWaiters: Array<() => void> = [];
  /** agent-service down fails every queued cleanup: a line per 10 s per kind, with the count left out. */
  private readonly lines = new LogRateLimit({ intervalMs: 10_000 });

  constructor(
    private readonly logger: Logger,
    private readonly options: { concurrency?: number; maxBackoffMs?: number; warnBacklog?: number } = {},
  ) {}

  enqueue(name: string, run: () => Promise<void>): void {
    this.pending.push({ name, run, attempt: 0 });
    const warnAt = this.options.warnBacklog ?? 10_000;
    if (this.pending.length >= warnAt) {
      const extra = this.lines.take("backlog");
      if (extra) this.logger.warn({ backlog: this.pending.length, ...extra }, "connection cleanup backlog is large; agent-service may be slow or down");
    }
    this.pump();
  }

  get backlog(): number {
    return this.pending.length + this.running;
  }

  /** Resolves when every queued job has finished (or `timeoutMs` passed); returns whether it drained. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.backlog === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return drained;
  }

  private pump(): void {
    const concurrency = this.options.concurrency ?? 32;
    while (this.running < concurrency && this.pending.length > 0) {
      const job = this.pending.shift()!;
      this.running++;
      void job
        .run()
        .then(
          () => undefined,
          (err) => {
            job.attempt++;
            const delay = Math.min(this.options.maxBackoffMs ?? 10_000, 100 * 2 ** Math.min(job.attempt, 10));
            const extra = this.lines.take("failed");
            if (extra) this.logger.warn({ job: job.name, attempt: job.attempt, retryInMs: delay, err: String(err), ...extra }, "cleanup failed; will retry");
            this.running++; // the retry still counts as outstanding work
            setTimeout(() => {
              this.running--;
              this.pending.push(job);
              this.pump();
            }, delay).unref();
          },
        )
        .finally(() => {
          this.running--;
          if (this.backlog === 0) {
            for (const w of this.idleWaiters.splice(0)) w();
          }
          this.pump();
        });
    }
  }
}
