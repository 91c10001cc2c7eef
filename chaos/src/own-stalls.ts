/**
 * How long this process's own event loop was stalled, so that an answer
 * deadline counts only the time we could have read the answer.
 *
 * The long runs go at nice 19 beside other work: the fuzzer itself is then
 * starved for seconds at a time. A timer that fires after such a stall fires
 * before the poll phase reads the replies that arrived meanwhile, so a plain
 * "no answer within 30 s" blamed the server for our own stall (the likeliest
 * cause of the one unanswered input of the long run at c69041c, which
 * replaying and shrinking did not reproduce). A server
 * that does not answer still fails: the deadline only leaves out time in
 * which we were not running.
 */
const TICK_MS = 50;
/** Lateness below this is ordinary timer jitter, not a stall. */
const JITTER_MS = 20;

let stalledMs = 0;
let lastTick = performance.now();
let ticker: NodeJS.Timeout | undefined;

function tick(): void {
  const now = performance.now();
  stalledMs += stallSince(now);
  lastTick = now;
}

/** The stall since the last tick, seen from `now` (the tick itself may be what the stall delayed). */
function stallSince(now: number): number {
  const late = now - lastTick - TICK_MS;
  return late > JITTER_MS ? late : 0;
}

/** Starts measuring (idempotent; the ticker does not keep the process alive). */
export function watchOwnStalls(): void {
  if (ticker) return;
  lastTick = performance.now();
  ticker = setInterval(tick, TICK_MS).unref();
}

/** Milliseconds this process spent stalled so far (including a stall still under way). */
export function ownStalledMs(): number {
  return stalledMs + stallSince(performance.now());
}

/**
 * Calls `expired` once `ms` of time in which we were running have passed
 * since now; the returned function cancels it. Time in which this process
 * was stalled does not count.
 */
export function answerDeadline(ms: number, expired: () => void): () => void {
  watchOwnStalls();
  const startedAt = performance.now();
  const stalledAtStart = ownStalledMs();
  let timer: NodeJS.Timeout;
  const arm = (wait: number) => {
    timer = setTimeout(() => {
      const running = performance.now() - startedAt - (ownStalledMs() - stalledAtStart);
      // Fired after a stall: what arrived meanwhile has not been read yet; wait the rest.
      if (running < ms) arm(Math.max(TICK_MS, ms - running));
      else expired();
    }, wait);
  };
  arm(ms);
  return () => clearTimeout(timer);
}
