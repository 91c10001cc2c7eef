import { describe, expect, it } from "vitest";
import { answerDeadline, ownStalledMs, watchOwnStalls } from "./own-stalls.js";

/** Keeps the event loop busy for `ms`: the stall a starved process sees. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe("own stalls", () => {
  it("counts the time our event loop was blocked", async () => {
    watchOwnStalls();
    const before = ownStalledMs();
    stall(400);
    // Seen at once, before the ticker had a chance to run.
    expect(ownStalledMs() - before).toBeGreaterThan(300);
  });

  it("an answer that arrived while we were stalled is read before the deadline expires", async () => {
    let expired = false;
    const cancel = answerDeadline(100, () => (expired = true));
    // The answer is ready at 150 ms, but we stall until 400 ms: the deadline's
    // timer (100 ms) is due first when the loop resumes.
    const answered = new Promise<void>((resolve) =>
      setTimeout(() => {
        cancel();
        resolve();
      }, 150),
    );
    stall(400);
    await answered;
    expect(expired).toBe(false);
  });

  it("expires when no answer comes in the time we were running", async () => {
    const started = performance.now();
    await new Promise<void>((resolve) => answerDeadline(100, resolve));
    expect(performance.now() - started).toBeGreaterThanOrEqual(99);
  });

  it("a stall does not count towards the deadline, and it still expires afterwards", async () => {
    const started = performance.now();
    const expired = new Promise<void>((resolve) => answerDeadline(300, resolve));
    stall(250);
    await expired;
    // 250 ms stalled + 300 ms running (less the jitter allowance of a tick).
    expect(performance.now() - started).toBeGreaterThan(450);
  });
});
