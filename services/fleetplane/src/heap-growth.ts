import { PerformanceObserver, constants } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { reduceHeapAfterFloods } from "./heap-reduction.js";

/**
 * How far (per cent) V8 lets a server process's old generation grow past
 * what its last full collection kept, before the next one. V8's own factor
 * goes up to 4× when collecting looks expensive next to the program's work —
 * which is how an idle fleet looks to it: thousands of sockets and cached
 * agents that live long, a trickle of heartbeats. Their short-lived garbage
 * (replies, the reports of answered heartbeats, the worker's calls to
 * agent-service) is promoted and piles up in the old generation until that
 * limit: 10,000 idle agents on 2 gateway workers, a minute after they came
 * in, held 21 KiB of V8 heap per agent in the primary and 20–29 per socket
 * in the workers, of which ~6–7 live. With 20 %: 6.5 and 7.1–7.3 used,
 * 10.4 and 9.8–10.2 KiB of RSS instead of 26 and 22–32
 * (docs/performance.md §21). The price is more full collections: set
 * always, ~+20 % of server CPU per idle heartbeat and ~+18 % per report
 * for a small, busy heap (1,000 agents in a closed loop) — hence only while
 * the heap is large (LIMIT_ABOVE_LIVE_BYTES). The operator's
 * `--heap-growing-percent=0` (V8's own dynamic factor) takes it back.
 *
 * It is read at every full collection, so setting it once the process runs
 * takes effect (unlike the young generation's size, fixed at start).
 */
export const HEAP_GROWING_PERCENT = 20;

const HEAP_GROWTH_FLAG = /^--(no-)?(heap[-_]growing[-_]percent|optimize[-_]for[-_]size)(=|$)/;

/** Whether the operator chose V8's heap growth (a flag on node's command line or in NODE_OPTIONS): theirs stands. */
export function heapGrowthChosen(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? "").split(/\s+/)].some((a) => HEAP_GROWTH_FLAG.test(a));
}

/**
 * Above this much heap left after a full collection the growth is limited;
 * below it V8's own factor stands. A server process's own code and state is
 * ~32–46 MiB of it: the limit is for processes holding many agents (where the
 * memory is), not for a small, busy one (where it costs the most CPU: ~+18 %
 * per report at 1,000 agents in a closed loop, docs/performance.md §21).
 */
export const LIMIT_ABOVE_LIVE_BYTES = 64 * 2 ** 20;

/** The growth a process with `liveBytes` left after a full collection runs with: the flag's value (0: V8's own). */
export function heapGrowingPercentFor(liveBytes: number): number {
  return liveBytes >= LIMIT_ABOVE_LIVE_BYTES ? HEAP_GROWING_PERCENT : 0;
}

/**
 * Keeps HEAP_GROWING_PERCENT set for this process while what survives its
 * full collections is above LIMIT_ABOVE_LIVE_BYTES (read just after each
 * one), unless its operator chose the heap's growth (heapGrowthChosen).
 * Call it first thing in every server process (the commands that serve,
 * each gateway worker). It also hands the heap back after a flood
 * (heap-reduction.ts), which the same choice of the operator turns off.
 * Returns whether it watches; `stop` ends it (tests).
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv, nodeOptions: string | undefined = process.env.NODE_OPTIONS): { stop(): void } | undefined {
  if (heapGrowthChosen(execArgv, nodeOptions)) return undefined;
  let current = 0;
  let live: number | undefined;
  let gcPauseMs = 0;
  const observer = new PerformanceObserver((list) => {
    const entries = list.getEntries();
    for (const e of entries) gcPauseMs += e.duration;
    if (!entries.some((e) => (e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) return;
    live = getHeapStatistics().used_heap_size;
    const wanted = heapGrowingPercentFor(live);
    if (wanted === current) return;
    current = wanted;
    setFlagsFromString(`--heap-growing-percent=${wanted}`);
  });
  observer.observe({ entryTypes: ["gc"] });
  const reduction = reduceHeapAfterFloods(
    () => live,
    () => current / 100,
    () => gcPauseMs,
  );
  return {
    stop: () => {
      observer.disconnect();
      reduction.stop();
    },
  };
}
