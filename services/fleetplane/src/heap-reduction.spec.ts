import { describe, expect, it } from "vitest";
import {
  QUIET_BELOW_UTILIZATION,
  REDUCE_ABOVE_SLACK_BYTES,
  REDUCTION_COOLDOWN_MS,
  REDUCTION_WINDOW_MS,
  hasSlack,
  reduceHeapAfterFloods,
  reductionStep,
} from "./heap-reduction.js";

const MiB = 2 ** 20;
// A worker after a flood of ~8,000 sockets: ~80 MiB live, ~250 MiB committed (docs/performance.md §24).
const afterFlood = { committedOldBytes: 250 * MiB, liveBytes: 80 * MiB, utilization: 0.1 };

describe("heap reduction after a flood", () => {
  it("sees slack only when the heap holds much more than lives, in bytes and as a share of it", () => {
    expect(hasSlack(afterFlood)).toBe(true);
    // 20 % growth room of a large heap is not slack.
    expect(hasSlack({ ...afterFlood, committedOldBytes: 96 * MiB })).toBe(false);
    // A small heap's few MiB of working room are not either.
    expect(hasSlack({ committedOldBytes: 40 * MiB + REDUCE_ABOVE_SLACK_BYTES - 1, liveBytes: 40 * MiB, utilization: 0 })).toBe(false);
    expect(hasSlack({ committedOldBytes: 40 * MiB + REDUCE_ABOVE_SLACK_BYTES, liveBytes: 40 * MiB, utilization: 0 })).toBe(true);
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

  it("does nothing before the first full collection says what lives, and stops cleanly", () => {
    const watching = reduceHeapAfterFloods(() => undefined);
    watching.stop();
  });
});
