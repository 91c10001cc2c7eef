import cluster from "node:cluster";
import { performance } from "node:perf_hooks";
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from "node:v8";

/**
 * After a flood of new agents a server process keeps the heap the flood
 * needed: V8 releases committed-but-empty pages only in its memory-reducing
 * collections, and its memory reducer starts those only when the program
 * allocates little. A standalone process goes quiet after a flood and gets
 * one 8–25 s later; a gateway worker under its sockets' heartbeats never
 * looks quiet enough to it, so it kept its flood high-water mark (~25–30 KiB
 * per socket against ~6 KiB of live objects, docs/performance.md §24, §28).
 *
 * Node has no call for a memory-reducing collection (`--expose-gc`'s `gc()`
 * runs a plain full one, which leaves the pages committed: measured, §28).
 * V8's `--optimize-for-size` makes the memory reducer collect at its next
 * tick whatever the allocation rate, and makes collections V8 starts itself
 * memory-reducing. It is read at run time, so it is set for a short window
 * when the heap holds much more than lives and the event loop is not busy,
 * and unset after it: its other effect (the compiler optimizing for size)
 * lasts only that window.
 */

/** Committed old-generation bytes past what lives worth a reduction: a few MiB of slack is V8's normal working room. */
export const REDUCE_ABOVE_SLACK_BYTES = 32 * 2 ** 20;
/**
 * …and more than the room the heap is given to grow past what lives
 * (heap-growth.ts: 20 % above 64 MiB live) by at least this fraction of what
 * lives: that room is V8's working space between full collections, not slack.
 * It was 0.5 of what lives in all: at 100,000 agents the workers (~100–120
 * MiB live) then sat on 40–50 MiB of slack each for a minute after their
 * flood, and the primary (~290 MiB live) on ~130 MiB through the heartbeat
 * window (docs/performance.md §44).
 */
export const REDUCE_ABOVE_GROWTH_ROOM_OF_LIVE = 0.1;
/** Event-loop utilisation below which the process counts as past its flood (a flood keeps it near 1). */
export const QUIET_BELOW_UTILIZATION = 0.5;
/** How long the flag stays set: V8's memory reducer ticks every 8 s and runs up to three collections 0.5 s apart. */
export const REDUCTION_WINDOW_MS = 20_000;
/**
 * The least time between two windows, so a process whose slack comes back at
 * once (or that a window did not free) is not kept optimizing for size.
 */
export const REDUCTION_COOLDOWN_MS = 60_000;
/**
 * …but after a window that did hand the slack back, a shorter one: in a
 * flood's tail a gateway worker's slack (~40 MiB at ~100 MiB live) was back
 * within the minute and stayed until the next window, so where the minute
 * fell decided its RSS (docs/performance.md §44, §47). A window that works
 * ends at the next check after V8's memory reducer ran (2–12 s), so this
 * bounds a heap's reducing collections to one round every ~25–35 s while its
 * slack keeps coming back; one that closes with the slack still there (busy
 * again, or time up) keeps the long cooldown.
 */
export const REDUCTION_COOLDOWN_AFTER_HANDED_BACK_MS = 20_000;
/** How often the heap is looked at: a few microseconds each time. */
export const CHECK_EVERY_MS = 2_000;

export interface HeapSample {
  /** Committed heap outside the young generation (V8 keeps the young generation's own size). */
  committedOldBytes: number;
  /** Heap in use just after the last full collection: what lives. */
  liveBytes: number;
  /** Event-loop utilisation by the program's own work since the last sample, 0–1 (programUtilization: pauses for garbage collection left out). */
  utilization: number;
  /** How far the heap may grow past what lives before the next full collection (0.2: heap-growth.ts's 20 %; 0: V8's own factor, on a small heap). */
  growthOfLive: number;
}

export interface ReductionState {
  /** When the current window began (undefined: none open). */
  since?: number;
  /** When the last window ended. */
  ended?: number;
  /** Whether the last window ended with the slack gone (it worked): the shorter cooldown follows. */
  handedBack?: boolean;
}

/**
 * The share of `elapsedMs` the event loop spent on the program's own work:
 * its busy time less the garbage collector's pauses in it. A window's own
 * memory-reducing collections are long on a large heap (the primary at
 * 100,000 agents, ~280 MiB live): counted as busy, they closed the window
 * they were the point of after one 2 s sample, half its slack still there
 * (docs/performance.md §47). A loop kept busy by collecting is not busy with
 * agents either.
 */
export function programUtilization(activeMs: number, elapsedMs: number, gcPauseMs: number): number {
  if (elapsedMs <= 0) return 0;
  return Math.max(0, activeMs - gcPauseMs) / elapsedMs;
}

/** What a check does with the flag. */
export type ReductionAction = "open" | "close" | "none";

/** Whether the heap holds enough more than lives to be worth a reduction. */
export function hasSlack(s: HeapSample): boolean {
  const slack = s.committedOldBytes - s.liveBytes;
  return slack >= REDUCE_ABOVE_SLACK_BYTES && slack >= s.liveBytes * (s.growthOfLive + REDUCE_ABOVE_GROWTH_ROOM_OF_LIVE);
}

/**
 * What to do with the flag at `now`: open a window, close it, or nothing. A
 * window also closes as soon as the process is busy again, so code the
 * compiler optimizes for a busy report path is not made for size.
 */
export function reductionStep(state: ReductionState, s: HeapSample, now: number): ReductionAction {
  const quiet = s.utilization < QUIET_BELOW_UTILIZATION;
  if (state.since !== undefined) return now - state.since >= REDUCTION_WINDOW_MS || !hasSlack(s) || !quiet ? "close" : "none";
  const cooldown = state.handedBack ? REDUCTION_COOLDOWN_AFTER_HANDED_BACK_MS : REDUCTION_COOLDOWN_MS;
  if (state.ended !== undefined && now - state.ended < cooldown) return "none";
  return quiet && hasSlack(s) ? "open" : "none";
}

/** `state` after `step` at `now` with sample `s` (reductionStep's caller keeps it). */
export function afterStep(state: ReductionState, step: ReductionAction, s: HeapSample, now: number): ReductionState {
  if (step === "open") return { ...state, since: now };
  if (step === "close") return { ended: now, handedBack: !hasSlack(s) };
  return state;
}

/**
 * One line per check on stderr when FLEETPLANE_HEAP_TRACE=1 (a diagnosis aid
 * for benches, off by default: a line every 2 s per process is noise); `elu`
 * is the program's utilisation, the collector's pauses left out.
 */
function traceLine(s: HeapSample, step: ReductionAction, state: ReductionState, now: number): void {
  const mib = (b: number) => Math.round(b / 2 ** 20);
  const h = getHeapStatistics();
  process.stderr.write(
    `heap-trace ${cluster.isWorker ? "worker" : "main"} pid=${process.pid} t=${Math.round(now / 1000)} committedOld=${mib(s.committedOldBytes)} live=${mib(s.liveBytes)} used=${mib(h.used_heap_size)} slack=${hasSlack(s)} elu=${s.utilization.toFixed(2)} growth=${s.growthOfLive} open=${state.since !== undefined} step=${step}\n`,
  );
}

/**
 * Looks at the heap every CHECK_EVERY_MS and opens a reduction window
 * (reductionStep) when it holds much more than lives and the process is
 * quiet. `liveBytes()` is what the last full collection left (heap-growth.ts
 * reads it), `growthOfLive()` the room it gives the heap past that (HeapSample),
 * `gcPauseMs()` the collector's pauses so far, in ms (programUtilization).
 * The timer does not keep the process alive; `stop` ends it and unsets the
 * flag if a window is open.
 */
export function reduceHeapAfterFloods(liveBytes: () => number | undefined, growthOfLive: () => number, gcPauseMs: () => number = () => 0): { stop(): void } {
  let state: ReductionState = {};
  const trace = process.env.FLEETPLANE_HEAP_TRACE === "1";
  let elu = performance.eventLoopUtilization();
  let pausedBefore = gcPauseMs();
  const setFlag = (on: boolean) => setFlagsFromString(on ? "--optimize-for-size" : "--no-optimize-for-size");
  const timer = setInterval(() => {
    const now = performance.now();
    const since = performance.eventLoopUtilization(elu);
    elu = performance.eventLoopUtilization();
    const paused = gcPauseMs();
    const utilization = programUtilization(since.active, since.active + since.idle, paused - pausedBefore);
    pausedBefore = paused;
    const live = liveBytes();
    if (live === undefined) return;
    const newSpace = getHeapSpaceStatistics().find((x) => x.space_name === "new_space")?.space_size ?? 0;
    const sample = { committedOldBytes: getHeapStatistics().total_heap_size - newSpace, liveBytes: live, utilization, growthOfLive: growthOfLive() };
    const step = reductionStep(state, sample, now);
    if (trace) traceLine(sample, step, state, now);
    state = afterStep(state, step, sample, now);
    if (step !== "none") setFlag(step === "open");
  }, CHECK_EVERY_MS);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      if (state.since !== undefined) setFlag(false);
    },
  };
}
