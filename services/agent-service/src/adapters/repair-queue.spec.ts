import { describe, expect, it } from "vitest";
import { RepairQueue } from "./repair-queue.js";

/** A store the test makes fail or answer, and a clock the test moves by hand. */
function harness(o: { maxWaiting?: number; chunk?: number } = {}) {
  const t = {
    down: true,
    repaired: [] as string[][],
    calls: 0,
    timers: [] as Array<{ run: () => void; ms: number }>,
    lines: [] as Array<{ level: string; msg: string; fields: Record<string, unknown> }>,
  };
  const log = (level: string) => (fields: Record<string, unknown>, msg: string) => void t.lines.push({ level, msg, fields });
  const queue = new RepairQueue({
    what: "test documents",
    delayMs: 100,
    maxDelayMs: 400,
    ...(o.maxWaiting !== undefined ? { maxWaiting: o.maxWaiting } : {}),
    ...(o.chunk !== undefined ? { chunk: o.chunk } : {}),
    logger: { info: log("info"), warn: log("warn"), error: log("error"), debug: log("debug") } as never,
    repair: async (ids) => {
      t.calls++;
      await Promise.resolve();
      if (t.down) throw new Error("store down");
      t.repaired.push([...ids]);
    },
    schedule: (run, ms) => void t.timers.push({ run, ms }),
  });
  /** Runs the one timer armed and lets its repair settle; its delay. */
  const tick = async (): Promise<number> => {
    expect(t.timers).toHaveLength(1);
    const { run, ms } = t.timers.shift()!;
    run();
    for (let i = 0; i < 10; i++) await Promise.resolve();
    return ms;
  };
  return { t, queue, tick };
}

describe("RepairQueue", () => {
  it("repairs once the store answers, after a delay that doubles while repairs fail and starts over after one worked", async () => {
    const { t, queue, tick } = harness();
    queue.add("a", new Error("store down"));
    queue.add("b", new Error("store down"));
    queue.add("a", new Error("store down")); // once per id
    expect(queue.size).toBe(2);
    expect(await tick()).toBe(100);
    expect(await tick()).toBe(200);
    expect(await tick()).toBe(400);
    expect(await tick()).toBe(400); // capped
    expect(t.repaired).toEqual([]);
    expect(queue.size).toBe(2); // failed repairs keep their ids
    t.down = false;
    await tick();
    expect(t.repaired).toEqual([["b", "a"]]);
    expect(queue.size).toBe(0);
    expect(t.timers).toHaveLength(0); // nothing waits: no timer
    // Told while failing, rate-limited, and once all is repaired.
    const warnings = t.lines.filter((l) => l.level === "warn");
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThan(5);
    expect(t.lines.at(-1)).toMatchObject({ level: "info", msg: "repaired the test documents whose write had failed" });
    // The next failure starts from the first delay again.
    t.down = true;
    queue.add("c", new Error("store down"));
    expect(await tick()).toBe(100);
  });

  it("repairs a chunk at a time, the next chunk after the first delay once one worked", async () => {
    const { t, queue, tick } = harness({ chunk: 2 });
    t.down = false;
    for (const id of ["a", "b", "c", "d", "e"]) queue.add(id, new Error("x"));
    expect(await tick()).toBe(100);
    expect(await tick()).toBe(100);
    expect(await tick()).toBe(100);
    expect(t.repaired).toEqual([["a", "b"], ["c", "d"], ["e"]]);
    expect(t.timers).toHaveLength(0);
  });

  it("keeps an id added again while its repair was out, and holds at most maxWaiting ids, giving up the oldest and saying how many", async () => {
    const { t, queue, tick } = harness({ maxWaiting: 2 });
    queue.add("a", new Error("x"));
    queue.add("b", new Error("x"));
    queue.add("c", new Error("x"));
    expect(queue.size).toBe(2);
    t.down = false;
    const { run } = t.timers.shift()!;
    run(); // b and c out …
    queue.add("c", new Error("x")); // … c's write failed again meanwhile
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(t.repaired).toEqual([["b", "c"]]);
    await tick();
    expect(t.repaired).toEqual([["b", "c"], ["c"]]);
    expect(t.lines.at(-1)).toMatchObject({ level: "info", fields: { givenUp: 1 } });
  });
});
