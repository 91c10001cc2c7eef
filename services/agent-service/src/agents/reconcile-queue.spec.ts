import { describe, expect, it, vi } from "vitest";
import { silentLogger, type LogMethod } from "@fleetplane/platform";
import { ReconcileQueue } from "./reconcile-queue.js";

describe("ReconcileQueue", () => {
  it("runs at most `concurrency` at once, each queued agent once, and is idle when all are done", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const done: string[] = [];
    const queue = new ReconcileQueue({ concurrency: 3, logger: silentLogger(), work: async (uid) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      done.push(uid);
    } });
    for (let i = 0; i < 100; i++) queue.add(`a${i}`);
    queue.add("a99"); // still queued: done once
    await queue.idle();
    expect(maxInFlight).toBe(3);
    expect(done.sort()).toEqual(Array.from({ length: 100 }, (_, i) => `a${i}`).sort());
    expect(queue.waiting).toBe(0);
  });

  it("keeps going after a failed piece of work", async () => {
    const done: string[] = [];
    const queue = new ReconcileQueue({ concurrency: 1, logger: silentLogger(), work: async (uid) => {
      if (uid === "bad") throw new Error("boom");
      done.push(uid);
    } });
    queue.add("bad");
    queue.add("good");
    await queue.idle();
    expect(done).toEqual(["good"]);
  });

  it("keeps at most `maxWaiting` agents waiting, queued or delayed, and counts the ones it leaves out", async () => {
    let release: () => void = () => {};
    const done: string[] = [];
    const queue = new ReconcileQueue({
      concurrency: 1,
      maxWaiting: 2,
      logger: silentLogger(),
      work: async (uid) => {
        if (uid === "busy") await new Promise<void>((r) => (release = r));
        done.push(uid);
      },
    });
    queue.add("busy"); // taken by the worker at once: not waiting
    queue.add("a");
    queue.later("b", 60_000);
    queue.add("c"); // full
    queue.later("d", 60_000); // full
    queue.add("a"); // already waiting: no room needed
    expect(queue.waiting).toBe(2);
    expect(queue.dropped).toBe(2);
    release();
    await queue.idle();
    expect(done).toEqual(["busy", "a"]);
  });

  it("runs a delayed agent once its delay is over, once however often it was asked for", async () => {
    const done: Array<{ uid: string; afterMs: number }> = [];
    const start = performance.now();
    const queue = new ReconcileQueue({ concurrency: 2, logger: silentLogger(), work: async (uid) => void done.push({ uid, afterMs: performance.now() - start }) });
    queue.later("x", 50);
    queue.later("x", 50);
    expect(queue.waiting).toBe(1);
    await vi.waitFor(() => expect(done.map((d) => d.uid)).toEqual(["x"]), { timeout: 2_000, interval: 5 });
    // Timers may fire a millisecond early (rounding), never much earlier.
    expect(done[0]!.afterMs).toBeGreaterThanOrEqual(48);
    expect(queue.waiting).toBe(0);
  });

  it("on close, clears what waits (delayed agents' timers too), takes nothing more, and resolves once the running work is done", async () => {
    vi.useFakeTimers();
    try {
      let release: () => void = () => {};
      const done: string[] = [];
      const queue = new ReconcileQueue({
        concurrency: 1,
        logger: silentLogger(),
        work: async (uid) => {
          if (uid === "running") await new Promise<void>((r) => (release = r));
          done.push(uid);
        },
      });
      queue.add("running");
      queue.add("queued");
      queue.later("delayed", 30_000);
      expect(vi.getTimerCount()).toBe(1);
      let closed = false;
      const closing = queue.close().then(() => (closed = true));
      // The delayed agent's timer is gone; the one left is close()'s own bound on its wait.
      expect(vi.getTimerCount()).toBe(1);
      expect(queue.waiting).toBe(0);
      queue.add("after");
      queue.later("after", 1);
      expect(queue.waiting).toBe(0);
      expect(vi.getTimerCount()).toBe(1);
      await Promise.resolve();
      expect(closed).toBe(false);
      release();
      await closing;
      expect(vi.getTimerCount()).toBe(0);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(done).toEqual(["running"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("on close, waits at most `waitMs` for work that never ends, and says so", async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const logger = { ...silentLogger(), warn: ((fields: Record<string, unknown>) => void warnings.push(fields)) as LogMethod };
    const queue = new ReconcileQueue({ concurrency: 2, logger, work: () => new Promise<void>(() => {}) });
    queue.add("hung");
    await queue.close(20);
    expect(warnings).toEqual([expect.objectContaining({ running: 1, waitedMs: 20 })]);
  });
});
