/**
 * A rollout's driver must never wait forever: a store call or a pin that
 * never settles (a database connection pool that never frees a slot, a
 * write queue behind a stuck write) would otherwise stop the tick, and with
 * it every stage's timeout. The work itself cannot be cancelled; the driver
 * stops waiting for it and carries on (decisions are inserts under the next
 * number and pins are idempotent, so work that finishes late is harmless).
 */
export class StepDeadlineError extends Error {
  constructor(
    readonly what: string,
    readonly ms: number,
  ) {
    super(`${what} did not finish within ${ms} ms`);
    this.name = "StepDeadlineError";
  }
}

/** `work`'s outcome, or StepDeadlineError once `ms` have passed without one. */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StepDeadlineError(what, ms)), ms);
    timer.unref();
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
