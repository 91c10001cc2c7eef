import { describe, expect, it } from "vitest";
import { ReconcileQueue } from "./reconcile-queue.js";

describe("ReconcileQueue", () => {
  it("runs at most `concurrency` at once, each queued agent once, and is idle when all are done", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const done: string[] = [];
    const queue = new ReconcileQueue(3, async (uid) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      done.push(uid);
    });
    for (let i = 0; i < 100; i++) queue.add(`a${i}`);
    queue.add("a99"); // still queued: done once
    await queue.idle();
    expect(maxInFlight).toBe(3);
    expect(done.sort()).toEqual(Array.from({ length: 100 }, (_, i) => `a${i}`).sort());
    expect(queue.waiting).toBe(0);
  });

  it("keeps going after a failed piece of work", async () => {
    const done: string[] = [];
    const queue = new ReconcileQueue(1, async (uid) => {
      if (uid === "bad") throw new Error("boom");
      done.push(uid);
    });
    queue.add("bad");
    queue.add("good");
    await queue.idle();
    expect(done).toEqual(["good"]);
  });
});
