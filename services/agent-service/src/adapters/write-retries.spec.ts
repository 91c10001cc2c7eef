import { describe, expect, it } from "vitest";
import { WriteRetries, type RetriedWrite } from "./write-retries.js";

interface Write extends RetriedWrite {
  value: string;
}

/** A store the test makes fail or take writes, and a clock the test moves by hand. */
function harness(o: { maxWaiting?: number } = {}) {
  const t = {
    down: true,
    taken: [] as Write[],
    sent: 0,
    timers: [] as Array<{ run: () => void; ms: number }>,
    lines: [] as Array<{ level: string; msg: string; fields: Record<string, unknown> }>,
  };
  const log = (level: string) => (fields: Record<string, unknown>, msg: string) => void t.lines.push({ level, msg, fields });
  const retries = new WriteRetries<Write>({
    what: "test documents",
    delayMs: 100,
    maxDelayMs: 400,
    ...(o.maxWaiting !== undefined ? { maxWaiting: o.maxWaiting } : {}),
    logger: { info: log("info"), warn: log("warn"), error: log("error"), debug: log("debug") } as never,
    send: async (w) => {
      t.sent++;
      await Promise.resolve();
      if (t.down) throw new Error("store down");
      t.taken.push(w);
    },
    schedule: (run, ms) => void t.timers.push({ run, ms }),
  });
  /** Runs the one timer armed, and waits for its sends to settle. */
  const tick = async (): Promise<number> => {
    expect(t.timers).toHaveLength(1);
    const { run, ms } = t.timers.shift()!;
    run();
    for (let i = 0; i < 10; i++) await Promise.resolve();
    return ms;
  };
  return { t, retries, tick };
}

const w = (id: string, revision: bigint, value = `${id}@${revision}`): Write => ({ id, revision, value });

describe("WriteRetries", () => {
  it("sends a failed write again, with a delay that doubles while it fails and starts over once it is taken", async () => {
    const { t, retries, tick } = harness();
    retries.retry(w("a", 1n), new Error("store down"));
    expect(retries.size).toBe(1);
    expect(await tick()).toBe(100);
    expect(await tick()).toBe(200);
    expect(await tick()).toBe(400);
    expect(await tick()).toBe(400); // capped
    expect(t.taken).toEqual([]);
    t.down = false;
    await tick();
    expect(t.taken).toEqual([w("a", 1n)]);
    expect(retries.size).toBe(0);
    expect(t.timers).toHaveLength(0); // nothing waits: no timer
    // Told once failing (rate-limited), and once recovered.
    expect(t.lines.filter((l) => l.level === "warn").length).toBeGreaterThanOrEqual(1);
    expect(t.lines.filter((l) => l.level === "warn").length).toBeLessThan(5);
    expect(t.lines.at(-1)).toMatchObject({ level: "info", msg: "wrote the test documents that had failed" });
    // The next failure starts from the first delay again.
    t.down = true;
    retries.retry(w("b", 1n), new Error("store down"));
    expect(await tick()).toBe(100);
  });

  it("keeps one write per id, the newest; a newer write made meanwhile supersedes the one waiting", async () => {
    const { t, retries, tick } = harness();
    retries.retry(w("a", 2n), new Error("x"));
    retries.retry(w("a", 3n), new Error("x"));
    retries.retry(w("a", 1n), new Error("x")); // older, failed late: ignored
    retries.retry(w("b", 1n), new Error("x"));
    retries.supersede("b");
    expect(retries.size).toBe(1);
    t.down = false;
    await tick();
    expect(t.taken).toEqual([w("a", 3n)]);
  });

  it("does not send again a write superseded while its retry was out (a newer write, or the document deleted)", async () => {
    const { t, retries } = harness();
    retries.retry(w("a", 1n), new Error("x"));
    retries.retry(w("b", 1n), new Error("x"));
    const { run } = t.timers.shift()!;
    run(); // both sent again, and fail …
    retries.supersede("a"); // … while "a" is deleted meanwhile
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(retries.size).toBe(1);
    t.down = false;
    t.timers.shift()!.run();
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(t.taken).toEqual([w("b", 1n)]);
  });

  it("holds at most maxWaiting writes, giving up the oldest and saying how many", async () => {
    const { t, retries, tick } = harness({ maxWaiting: 2 });
    retries.retry(w("a", 1n), new Error("x"));
    retries.retry(w("b", 1n), new Error("x"));
    retries.retry(w("c", 1n), new Error("x"));
    expect(retries.size).toBe(2);
    t.down = false;
    await tick();
    expect(t.taken.map((x) => x.id)).toEqual(["b", "c"]);
    expect(t.lines.at(-1)).toMatchObject({ level: "info", fields: { givenUp: 1 } });
  });
});
