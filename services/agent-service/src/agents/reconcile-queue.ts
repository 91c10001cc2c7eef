/**
 * Background work keyed by agent, at most `concurrency` at once: the audit
 * reconciliation of agents coming back (agent-reports.ts). A restart brings
 * thousands back within seconds, and each reconciliation asks the audit
 * trail (command-service) and the store; unbounded, they would all be in
 * flight together, queueing behind each other and starving the report path
 * of the same store. An agent queued twice before its turn is done once.
 *
 * runBounded (@fleetplane/platform) caps work over a list known in advance;
 * here the work arrives one agent at a time, so workers take it from a set.
 */
export class ReconcileQueue {
  private readonly queued = new Set<string>();
  private workers = 0;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    /** Must not throw (it logs its own failures). */
    private readonly work: (uid: string) => Promise<void>,
  ) {}

  add(uid: string): void {
    this.queued.add(uid);
    if (this.workers < Math.max(1, this.concurrency)) void this.worker();
  }

  /** Agents waiting for their turn (not counting those being worked on). */
  get waiting(): number {
    return this.queued.size;
  }

  /** Resolves when nothing is queued or running (shutdown, tests). */
  idle(): Promise<void> {
    if (this.workers === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async worker(): Promise<void> {
    this.workers++;
    try {
      for (let next = this.take(); next !== undefined; next = this.take()) {
        await this.work(next).catch(() => undefined);
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
