interface Window {
  /** When the window ends (ms); a line of its key before then is only counted once the burst is spent. */
  endsAt: number;
  /** Lines of this key written in the window. */
  written: number;
  /** Lines of this key left out since its last written line. */
  suppressed: number;
}

/**
 * The one rate limit on log lines that outside input or a dead dependency
 * can repeat without bound (malformed agent messages, refused admin calls, an
 * audit trail that cannot be written): per key, at most `burst` lines per
 * window of `intervalMs`, the window starting at the first line written. A
 * line left out is counted, and the count goes out with the next line of its
 * key — or, for a caller with a timer, through `ended()` once the window is
 * over — so a flood costs a few lines and nothing is silently dropped. What a
 * key is (a kind, a kind and a source address) is the caller's: it also
 * bounds how many keys it makes (`size`, `has`).
 */
export class LogRateLimit {
  private readonly windows = new Map<string, Window>();
  private readonly intervalMs: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(o: { intervalMs: number; burst?: number; now?: () => number }) {
    this.intervalMs = o.intervalMs;
    this.burst = o.burst ?? 1;
    this.now = o.now ?? Date.now;
  }

  /**
   * Asks to write a line of `key`. Returns how many lines of the key were
   * left out before it (0 or more) when it may be written, or undefined when
   * it is left out (and counted).
   */
  admit(key: string): number | undefined {
    const now = this.now();
    const window = this.windows.get(key);
    if (window && now < window.endsAt) {
      if (window.written < this.burst) {
        window.written++;
        const suppressed = window.suppressed;
        window.suppressed = 0;
        return suppressed;
      }
      window.suppressed++;
      return undefined;
    }
    this.windows.set(key, { endsAt: now + this.intervalMs, written: 1, suppressed: 0 });
    return window?.suppressed ?? 0;
  }

  /**
   * `admit` for the usual line: the fields to add to it — `{}`, or
   * `{ suppressed }` when lines of the key were left out before it — or
   * undefined when this line is left out.
   */
  take(key: string): { suppressed?: number } | undefined {
    const suppressed = this.admit(key);
    if (suppressed === undefined) return undefined;
    return suppressed > 0 ? { suppressed } : {};
  }

  /**
   * The keys whose window is over with lines left out, and how many; forgets
   * every window that is over (so the map holds only current keys). For
   * callers that write the counts on a timer rather than with the next line.
   */
  ended(): Array<{ key: string; suppressed: number }> {
    const now = this.now();
    const out: Array<{ key: string; suppressed: number }> = [];
    for (const [key, window] of this.windows) {
      if (now < window.endsAt) continue;
      this.windows.delete(key);
      if (window.suppressed > 0) out.push({ key, suppressed: window.suppressed });
    }
    return out;
  }

  /** Whether `key` has a window (current, or over and not yet collected by `ended()`). */
  has(key: string): boolean {
    return this.windows.has(key);
  }

  /** Keys being tracked. */
  get size(): number {
    return this.windows.size;
  }
}
