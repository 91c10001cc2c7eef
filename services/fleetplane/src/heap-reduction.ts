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
/** The least time between two windows, so a process whose slack comes back at once is not kept optimizing for size. */
export const REDUCTION_COOLDOWN_MS = 60_000;
/** How often the heap is looked at: a few microseconds each time. */
export const CHECK_EVERY_MS = 2_000;

export interface HeapSample {
  /** Committed heap outside the young generation (V8 keeps the young generation's own size). */
  committedOldBytes: number;
  /** Heap in use just after the last full collection: what lives. */
  liveBytes: number;
  /** Event-loop utilisation since the last sample, 0–1. */
  utilization: number;
  /** How far the heap may grow past what lives before the next full collection (0.2: heap-growth.ts's 20 %; 0: V8's own factor, on a small heap). */
  growthOfLive: number;
}

export interface ReductionState {
  /** When the current window began (undefined: none open). */
  since?: number;
  /** When the last window ended. */
  ended?: number;
}

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
export function reductionStep(state: ReductionState, s: HeapSample, now: number): "open" | "close" | "none" {
  const quiet = s.utilization < QUIET_BELOW_UTILIZATION;
  if (state.since !== undefined) return now - state.since >= REDUCTION_WINDOW_MS || !hasSlack(s) || !quiet ? "close" : "none";
  if (state.ended !== undefined && now - state.ended < REDUCTION_COOLDOWN_MS) return "none";
  return quiet && hasSlack(s) ? "open" : "none";
}

/**
 * Looks at the heap every CHECK_EVERY_MS and opens a reduction window
 * (reductionStep) when it holds much more than lives and the process is
 * quiet. `liveBytes()` is what the last full collection left (heap-growth.ts
 * reads it), `growthOfLive()` the room it gives the heap past that (HeapSample).
 * The timer does not keep the process alive; `stop` ends it and unsets the
 * flag if a window is open.
 */
export function reduceHeapAfterFloods(liveBytes: () => number | undefined, growthOfLive: () => number): { stop(): void } {
  const state: ReductionState = {};
  let elu = performance.eventLoopUtilization();
  const setFlag = (on: boolean) => setFlagsFromString(on ? "--optimize-for-size" : "--no-optimize-for-size");
  const timer = setInterval(() => {
    const now = performance.now();
    const utilization = performance.eventLoopUtilization(elu).utilization;
    elu = performance.eventLoopUtilization();
    const live = liveBytes();
    if (live === undefined) return;
    const newSpace = getHeapSpaceStatistics().find((x) => x.space_name === "new_space")?.space_size ?? 0;
    const step = reductionStep(state, { committedOldBytes: getHeapStatistics().total_heap_size - newSpace, liveBytes: live, utilization, growthOfLive: growthOfLive() }, now);
    if (step === "open") {
      state.since = now;
      setFlag(true);
    } else if (step === "close") {
      state.since = undefined;
      state.ended = now;
      setFlag(false);
    }
  }, CHECK_EVERY_MS);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      if (state.since !== undefined) setFlag(false);
    },
  };
}
