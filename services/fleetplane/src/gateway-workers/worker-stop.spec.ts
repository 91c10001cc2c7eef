import { afterEach, describe, expect, it, vi } from "vitest";
import { boundedStop, orphaned } from "./worker-stop.js";

describe("boundedStop", () => {
  afterEach(() => void vi.useRealTimers());

  it("exits 0 once the work is done, and runs the work once however often it is asked", async () => {
    const exit = vi.fn();
    let runs = 0;
    const stop = boundedStop({ work: async () => void runs++, deadlineMs: 1_000, exit });
    await Promise.all([stop(), stop()]);
    expect(runs).toBe(1);
    expect(exit.mock.calls).toEqual([[0]]);
  });

  it("exits 1 when the work fails", async () => {
    const exit = vi.fn();
    await boundedStop({ work: () => Promise.reject(new Error("agent-service gone")), deadlineMs: 1_000, exit })();
    expect(exit.mock.calls).toEqual([[1]]);
  });

  it("exits 1 at the deadline when the work never ends (the primary is gone and nothing answers)", async () => {
    vi.useFakeTimers();
    const exit = vi.fn();
    const onOverdue = vi.fn();
    const stopped = boundedStop({ work: () => new Promise<void>(() => {}), deadlineMs: 10_000, exit, onOverdue })();
    await vi.advanceTimersByTimeAsync(9_999);
    expect(exit).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await stopped;
    expect(exit.mock.calls).toEqual([[1]]);
    expect(onOverdue).toHaveBeenCalledOnce();
  });
});

describe("orphaned", () => {
  it("is true when the channel is closed or the parent changed, false while both hold", () => {
    expect(orphaned({ connected: true, ppid: 42 }, 42)).toBe(false);
    expect(orphaned({ connected: false, ppid: 42 }, 42)).toBe(true);
    expect(orphaned({ connected: true, ppid: 1 }, 42)).toBe(true);
  });
});
