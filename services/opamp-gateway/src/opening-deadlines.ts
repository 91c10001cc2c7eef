/**
 * Deadlines for what a new connection must do in time — send its first byte
 * (the handshake timeout), send its first admitted AgentToServer (the
 * first-message timeout) — kept as one map per kind and checked by one
 * periodic sweep (`sweep`), not a timer per connection. A timer, its
 * closure and a close listener per socket cost ~3–4 µs each on this
 * machine, several times over per new agent in a connect storm
 * (docs/performance.md §15); a map entry costs a tenth of that. The price:
 * a deadline is acted on when the sweep after it runs, i.e. up to one sweep
 * interval late.
 */
export class OpeningDeadlines<T> {
  private readonly due = new Map<T, number>();

  constructor(
    private readonly timeoutMs: number,
    /** Whether `item` did what it had to (or is gone): then it is forgotten without a word. */
    private readonly met: (item: T) => boolean,
    /** Called once for an item whose deadline passed unmet; it is forgotten first. */
    private readonly missed: (item: T) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts watching `item`, due `timeoutMs` from now. */
  watch(item: T): void {
    this.due.set(item, this.now() + this.timeoutMs);
  }

  /** Stops watching `item` (it met its deadline, or it closed). */
  forget(item: T): void {
    this.due.delete(item);
  }

  /** Forgets the items that met their deadline and hands those past it to `missed`. */
  sweep(): void {
    const now = this.now();
    for (const [item, due] of this.due) {
      if (this.met(item)) this.due.delete(item);
      else if (due <= now) {
        this.due.delete(item);
        this.missed(item);
      }
    }
  }

  /** Items watched (for tests). */
  get size(): number {
    return this.due.size;
  }
}
