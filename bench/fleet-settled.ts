/**
 * When a large fleet counts as "in" for a measurement window.
 *
 * Waiting for every last agent can take longer than the fleet itself: at
 * 100,000 agents with an admission limit, the last few are refused agents
 * waiting out their retry hint (docs/performance.md §32: 99,995 in after
 * 560 s, the last 5 still out when the run's time ran out). A window opened
 * once a stated share has answered measures the fleet that is there, and
 * the result says how many that was.
 */

/** The answered share that opens the window, in percent (100: every agent, the old rule). */
export const DEFAULT_SETTLED_PERCENT = 99.9;

/** Raised when the percent is not in (0, 100]. */
export class SettledPercentError extends RangeError {
  constructor(readonly percent: number) {
    super(`the answered share must be a percent above 0 and at most 100, got ${percent}`);
    this.name = "SettledPercentError";
  }
}

/**
 * How many of `agents` must have answered for `percent` of them: rounded up,
 * so 99.9 % of 100,000 is 99,900 and 99.9 % of 10 is all 10 (a share never
 * lets a small fleet open its window with fewer than it states). The percent
 * is taken in thousandths so that 99.9 × 100,000 is not 99,900.000000001.
 */
export function answeredNeeded(agents: number, percent: number): number {
  if (!(percent > 0 && percent <= 100)) throw new SettledPercentError(percent);
  const milliPercent = Math.round(percent * 1000);
  return Math.min(agents, Math.ceil((agents * milliPercent) / 100_000));
}

/** A fleet seen from outside: how many answered so far, and the moment every agent has. */
export interface AnsweringFleet {
  answered(): Promise<number>;
  whenAllAnswered(timeoutMs: number): Promise<void>;
}

/** Raised when the share was not reached in time. */
export class NotSettledError extends Error {
  constructor(
    readonly answered: number,
    readonly needed: number,
    readonly timeoutMs: number,
  ) {
    super(`only ${answered} agents answered within ${timeoutMs / 1000} s; the window needs ${needed}`);
    this.name = "NotSettledError";
  }
}

/**
 * Resolves with the number answered once at least `needed` have: at 100 %
 * the fleet's own all-answered moment (exact, as before), below it by
 * asking the fleet every `pollMs` (its counters travel from other processes;
 * there is no event for a share).
 */
export async function whenSettled(fleet: AnsweringFleet, o: { agents: number; percent: number; pollMs: number; timeoutMs: number }): Promise<number> {
  const needed = answeredNeeded(o.agents, o.percent);
  if (needed >= o.agents) {
    await fleet.whenAllAnswered(o.timeoutMs);
    return fleet.answered();
  }
  const deadline = performance.now() + o.timeoutMs;
  for (;;) {
    const answered = await fleet.answered();
    if (answered >= needed) return answered;
    if (performance.now() >= deadline) throw new NotSettledError(answered, needed, o.timeoutMs);
    await new Promise((r) => setTimeout(r, o.pollMs));
  }
}
