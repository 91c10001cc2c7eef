import { describe, expect, it } from "vitest";
import {
  QUIET_BELOW_UTILIZATION,
  REDUCE_ABOVE_SLACK_BYTES,
  REDUCTION_COOLDOWN_AFTER_HANDED_BACK_MS,
  REDUCTION_COOLDOWN_MS,
  REDUCTION_WINDOW_MS,
  afterStep,
  hasSlack,
  programUtilization,
  reduceHeapAfterFloods,
  reductionStep,
} from "./heap-reduction.js";

const MiB = 2 ** 20;
// A worker after a flood of ~8,000 sockets: ~80 MiB live, ~250 MiB committed (docs/performance.md §24).
const afterFlood = { committedOldBytes: 250 * MiB, liveBytes: 80 * MiB, utilization: 0.1, growthOfLive: 0.2 };

describe("heap reduction after a flood", () => {
  it("sees slack only when the heap holds much more than lives, in bytes and as a share of it", () => {
    expect(hasSlack(afterFlood)).toBe(true);
    // 20 % growth room of a large heap is not slack.
    expect(hasSlack({ ...afterFlood, committedOldBytes: 96 * MiB })).toBe(false);
    // A small heap's few MiB of working room are not either.
    expect(hasSlack({ committedOldBytes: 40 * MiB + REDUCE_ABOVE_SLACK_BYTES - 1, liveBytes: 40 * MiB, utilization: 0, growthOfLive: 0 })).toBe(false);
    expect(hasSlack({ committedOldBytes: 40 * MiB + REDUCE_ABOVE_SLACK_BYTES, liveBytes: 40 * MiB, utilization: 0, growthOfLive: 0 })).toBe(true);
  });

  it("counts as slack what a large heap holds past its growth room, not only past half of what lives", () => {
    // A worker at 100,000 agents after its flood: 119 MiB live, 157 committed (§44): 38 MiB over, past 20 % + 10 %.
    const worker = { committedOldBytes: 157 * MiB, liveBytes: 119 * MiB, utilization: 0.15, growthOfLive: 0.2 };
    expect(hasSlack(worker)).toBe(true);
    expect(reductionStep({}, worker, 0)).toBe("open");
    // The primary there: ~290 MiB live, ~420 committed.
    expect(hasSlack({ committedOldBytes: 420 * MiB, liveBytes: 290 * MiB, utilization: 0.2, growthOfLive: 0.2 })).toBe(true);
    // Within the room and its margin (30 % of what lives): not slack, so a large heap between collections opens no window.
    expect(hasSlack({ committedOldBytes: 370 * MiB, liveBytes: 290 * MiB, utilization: 0.2, growthOfLive: 0.2 })).toBe(false);
    // The room is the one the heap is given: without heap-growth.ts's limit (V8's own factor), the bytes' floor decides.
    expect(hasSlack({ ...worker, committedOldBytes: 119 * MiB + REDUCE_ABOVE_SLACK_BYTES, growthOfLive: 0 })).toBe(true);
    expect(hasSlack({ ...worker, committedOldBytes: 119 * MiB + REDUCE_ABOVE_SLACK_BYTES, growthOfLive: 0.2 })).toBe(false);
  });

  it("opens a window once the flood is over, not while the event loop is busy with it", () => {
    expect(reductionStep({}, { ...afterFlood, utilization: 0.95 }, 0)).toBe("none");
    expect(reductionStep({}, { ...afterFlood, utilization: QUIET_BELOW_UTILIZATION }, 0)).toBe("none");
    expect(reductionStep({}, afterFlood, 0)).toBe("open");
  });

  it("closes the window when the slack is gone, the process is busy again or the window's time is up, whichever is first", () => {
    const reduced = { ...afterFlood, committedOldBytes: 90 * MiB };
    expect(reductionStep({ since: 0 }, afterFlood, REDUCTION_WINDOW_MS - 1)).toBe("none");
    expect(reductionStep({ since: 0 }, reduced, 2_000)).toBe("close");
    expect(reductionStep({ since: 0 }, { ...afterFlood, utilization: 0.9 }, 2_000)).toBe("close");
    expect(reductionStep({ since: 0 }, afterFlood, REDUCTION_WINDOW_MS)).toBe("close");
  });

  it("waits a cooldown before opening another, so a heap whose slack comes back is not kept optimizing for size", () => {
    expect(reductionStep({ ended: 1_000 }, afterFlood, 1_000 + REDUCTION_COOLDOWN_MS - 1)).toBe("none");
    expect(reductionStep({ ended: 1_000 }, afterFlood, 1_000 + REDUCTION_COOLDOWN_MS)).toBe("open");
  });

  it("opens again after the short cooldown when the last window handed the slack back and it returned, after the long one when the last did not free it", () => {
    // A worker in a flood's tail (§44): a window frees its slack, the tail brings it back within the minute.
    const reduced = { ...afterFlood, committedOldBytes: 90 * MiB };
    const opened = afterStep({}, reductionStep({}, afterFlood, 0), afterFlood, 0);
    expect(opened.since).toBe(0);
    const worked = afterStep(opened, reductionStep(opened, reduced, 6_000), reduced, 6_000);
    expect(worked).toEqual({ ended: 6_000, handedBack: true });
    expect(reductionStep(worked, afterFlood, 6_000 + REDUCTION_COOLDOWN_AFTER_HANDED_BACK_MS - 1)).toBe("none");
    expect(reductionStep(worked, afterFlood, 6_000 + REDUCTION_COOLDOWN_AFTER_HANDED_BACK_MS)).toBe("open");
    // A window that ends with the slack still there (time up, or busy again) did not work: the long cooldown, so a heap
    // the reducer cannot shrink is not kept optimizing for size.
    const timeUp = afterStep(opened, reductionStep(opened, afterFlood, REDUCTION_WINDOW_MS), afterFlood, REDUCTION_WINDOW_MS);
    expect(timeUp).toEqual({ ended: REDUCTION_WINDOW_MS, handedBack: false });
    expect(reductionStep(timeUp, afterFlood, REDUCTION_WINDOW_MS + REDUCTION_COOLDOWN_AFTER_HANDED_BACK_MS)).toBe("none");
    expect(reductionStep(timeUp, afterFlood, REDUCTION_WINDOW_MS + REDUCTION_COOLDOWN_MS)).toBe("open");
    const busy = { ...afterFlood, utilization: 0.9 };
    expect(afterStep(opened, reductionStep(opened, busy, 2_000), busy, 2_000)).toEqual({ ended: 2_000, handedBack: false });
    // Even the short cooldown leaves a quiet process's slack alone while the loop is busy.
    expect(reductionStep(worked, busy, 6_000 + REDUCTION_COOLDOWN_AFTER_HANDED_BACK_MS)).toBe("none");
  });

  it("keeps a window open through the pauses of its own collections, and closes it when the program itself is busy", () => {
    // The primary at 100,000 agents (§47): ~280 MiB live, its window's memory-reducing collection paused the loop for
    // much of a 2 s sample, which then read 0.59 busy and closed the window with half its slack there.
    const primary = { committedOldBytes: 423 * MiB, liveBytes: 283 * MiB, growthOfLive: 0.2 };
    const collecting = programUtilization(1_180, 2_000, 900);
    expect(collecting).toBeCloseTo(0.14);
    expect(reductionStep({ since: 0 }, { ...primary, utilization: collecting }, 2_000)).toBe("none");
    const serving = programUtilization(1_180, 2_000, 100);
    expect(reductionStep({ since: 0 }, { ...primary, utilization: serving }, 2_000)).toBe("close");
    // Nor does a loop busy only with collecting keep a window from opening.
    expect(reductionStep({}, { ...primary, utilization: collecting }, 0)).toBe("open");
    expect(programUtilization(100, 2_000, 300)).toBe(0);
    expect(programUtilization(0, 0, 0)).toBe(0);
  });

  it("does nothing before the first full collection says what lives, and stops cleanly", () => {
    const watching = reduceHeapAfterFloods(
      () => undefined,
      () => 0,
    );
    watching.stop();
  });
});
