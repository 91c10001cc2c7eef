import type { Logger } from "@fleetplane/platform";
import { describe, expect, it, vi } from "vitest";
import { CleanupQueue } from "./cleanup-queue.js";

/** A logger that keeps its warnings. */
function recordingLogger() {
  const warnings: string[] = [];
  const logger = { warn: (_fields: unknown, message: string) => void warnings.push(message) } as unknown as Logger;
  return { logger, warnings };
}

/** A job that runs until released, counting how many run at once. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe("the cleanup queue", () => {
  it("runs every job, never more at once than its concurrency", async () => {
    const { logger } = recordingLogger();
    const queue = new CleanupQueue(logger, { concurrency: 2 });
    const release = gate();
    let running = 0;
    let most = 0;
    const done: number[] = [];
    for (let i = 0; i < 5; i++) {
      queue.enqueue(`job ${i}`, async () => {
        running++;
        most = Math.max(most, running);
        await release.opened;
        running--;
        done.push(i);
      });
    }
    expect(running).toBe(2);
    expect(queue.backlog).toBe(5);
    release.open();
    expect(await queue.drain(5_000)).toBe(true);
    expect(most).toBe(2);
    expect(done.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(queue.backlog).toBe(0);
  });

  it("retries a failed job until it succeeds, counting it as outstanding meanwhile", async () => {
    const { logger, warnings } = recordingLogger();
    const queue = new CleanupQueue(logger, { maxBackoffMs: 40 });
    let attempts = 0;
    queue.enqueue("flaky", async () => {
      if (++attempts < 3) throw new Error("agent-service down");
    });
    // Between the failure and its retry the job is still counted (so a drain waits for it).
    await vi.waitFor(() => expect([warnings.length, queue.backlog]).toEqual([1, 1]), { interval: 2 });
    expect(attempts).toBe(1);
    expect(await queue.drain(5_000)).toBe(true);
    expect(attempts).toBe(3);
    // Two failures within 10 s: one line (rate-limited).
    expect(warnings.filter((w) => w === "cleanup failed; will retry")).toHaveLength(1);
  });

  it("logs one line, not one per job, when agent-service fails every cleanup", async () => {
    const { logger, warnings } = recordingLogger();
    const queue = new CleanupQueue(logger, { maxBackoffMs: 40 });
    let failing = true;
    let attempts = 0;
    for (let i = 0; i < 200; i++)
      queue.enqueue(`job-${i}`, async () => {
        attempts++;
        if (failing) throw new Error("agent-service down");
      });
    await vi.waitFor(() => expect(attempts).toBeGreaterThanOrEqual(200), { interval: 2 });
    failing = false;
    expect(await queue.drain(5_000)).toBe(true);
    expect(warnings.filter((w) => w === "cleanup failed; will retry")).toHaveLength(1);
  });

  it("reports a drain that ran out of time, and a drain with nothing to do at once", async () => {
    const { logger } = recordingLogger();
    const queue = new CleanupQueue(logger);
    expect(await queue.drain(0)).toBe(true);
    const release = gate();
    queue.enqueue("slow", () => release.opened);
    expect(await queue.drain(20)).toBe(false);
    release.open();
    expect(await queue.drain(5_000)).toBe(true);
  });

  it("warns loudly about a large backlog instead of dropping work", async () => {
    const { logger, warnings } = recordingLogger();
    const queue = new CleanupQueue(logger, { concurrency: 1, warnBacklog: 3 });
    const release = gate();
    for (let i = 0; i < 5; i++) queue.enqueue(`job ${i}`, () => release.opened);
    expect(warnings).toEqual(["connection cleanup backlog is large; agent-service may be slow or down"]);
    expect(queue.backlog).toBe(5);
    release.open();
    expect(await queue.drain(5_000)).toBe(true);
  });
});
