import type { Logger } from "@fleetplane/platform";
import { describe, expect, it, vi } from "vitest";
import { AuditBatches, type AuditBatchOptions, type AuditEntryAnswer, type AuditLoss } from "./audit-batches.js";

/** An entry: "<command>:<step>". */
type Entry = string;
const commandOf = (e: Entry) => e.split(":")[0]!;

/** A command-service stand-in whose calls the spec answers by hand, one by one. */
function harness(o: Partial<AuditBatchOptions<Entry>> = {}) {
  const calls: Array<{ entries: Entry[]; answer: (a?: AuditEntryAnswer[]) => void; fail: (err: Error) => void }> = [];
  const losses: Array<[AuditLoss, number]> = [];
  const lines: Array<{ level: string; context: Record<string, unknown>; message: string }> = [];
  const logAt = (level: string) => (context: Record<string, unknown>, message: string) => lines.push({ level, context, message });
  const logger = { warn: logAt("warn"), error: logAt("error"), info: logAt("info"), debug: logAt("debug") } as unknown as Logger;
  const batches = new AuditBatches<Entry>({
    send: (entries) =>
      new Promise((resolve, reject) => {
        calls.push({ entries, answer: (a) => resolve(a ?? entries.map(() => ({ outcome: "written" }))), fail: reject });
      }),
    logger,
    lost: (reason, n) => losses.push([reason, n]),
    backoffMs: 5,
    maxBackoffMs: 20,
    ...o,
  });
  const add = (e: Entry) => batches.add({ command: commandOf(e), entry: e, context: { entry: e } });
  /** Waits for call number `n` (0-based) and returns it. */
  const call = async (n: number) => {
    await vi.waitFor(() => expect(calls.length).toBeGreaterThan(n), { timeout: 2_000, interval: 1 });
    return calls[n]!;
  };
  return { batches, calls, losses, lines, add, call };
}

describe("audit batches", () => {
  it("sends entries added together as one call, and a lone entry soon after it is added", async () => {
    const h = harness();
    const first = [h.add("a:record"), h.add("b:record"), h.add("a:delivered")];
    const c0 = await h.call(0);
    expect(c0.entries).toEqual(["a:record", "b:record", "a:delivered"]);
    c0.answer();
    await Promise.all(first);
    const lone = h.add("c:record");
    (await h.call(1)).answer();
    await lone;
    expect(h.calls.map((c) => c.entries)).toEqual([["a:record", "b:record", "a:delivered"], ["c:record"]]);
    await h.batches.drain();
    expect(h.batches.queued).toBe(0);
  });

  it("sends at most maxBatch entries a call and at most inFlight calls at once", async () => {
    const h = harness({ maxBatch: 4, inFlight: 2 });
    const all = Array.from({ length: 10 }, (_, i) => h.add(`c${i}:record`));
    const [c0, c1] = [await h.call(0), await h.call(1)];
    expect([c0.entries.length, c1.entries.length]).toEqual([4, 4]);
    expect(h.calls).toHaveLength(2); // the third waits for a free call
    c0.answer();
    const c2 = await h.call(2);
    expect(c2.entries).toEqual(["c8:record", "c9:record"]);
    c1.answer();
    c2.answer();
    await Promise.all(all);
  });

  it("keeps a command's later entries queued while an earlier one is in a call, so a change never overtakes its record", async () => {
    const h = harness({ inFlight: 2 });
    void h.add("a:record");
    const c0 = await h.call(0);
    void h.add("a:delivered");
    void h.add("b:record");
    // The second call may go, but without a's entry.
    const c1 = await h.call(1);
    expect(c0.entries).toEqual(["a:record"]);
    expect(c1.entries).toEqual(["b:record"]);
    c1.answer();
    c0.answer();
    const c2 = await h.call(2);
    expect(c2.entries).toEqual(["a:delivered"]);
    c2.answer();
    await h.batches.drain();
  });

  it("sends a failed call's entries again, in order and ahead of those queued meanwhile, after a pause; callers are answered after the first try", async () => {
    const h = harness();
    const firstTry = [h.add("a:record"), h.add("b:record")];
    const c0 = await h.call(0);
    void h.add("a:delivered");
    c0.fail(new Error("connect ECONNREFUSED"));
    await Promise.all(firstTry); // settled by the failed try, not held until the retry
    expect(h.batches.queued).toBe(3);
    const c1 = await h.call(1);
    expect(c1.entries).toEqual(["a:record", "b:record", "a:delivered"]);
    c1.fail(new Error("connect ECONNREFUSED"));
    const c2 = await h.call(2);
    expect(c2.entries).toEqual(["a:record", "b:record", "a:delivered"]);
    c2.answer();
    await h.batches.drain();
    expect(h.losses).toEqual([]);
    // The failures were said once (rate-limited), as a warning naming how many wait.
    const warned = h.lines.filter((l) => l.level === "warn");
    expect(warned).toHaveLength(1);
    expect(warned[0]!.context).toMatchObject({ batch: 2, queued: 3 });
  });

  it("tries a change of a command not yet recorded again, holding that command's later entries behind it, then gives it up and counts it", async () => {
    const h = harness({ notFoundTries: 2 });
    void h.add("a:delivered");
    const c0 = await h.call(0);
    void h.add("a:applied");
    void h.add("b:record");
    const notFound = { outcome: "not_found" as const, message: "command a is not in the audit trail" };
    c0.answer([notFound]);
    // b may go alone before a's retry, or in the same call as it: that depends on which of the
    // batch timer (2 ms) and the retry's backoff (5 ms) fires first on a loaded machine. Either way
    // a's later change never goes ahead of the change retried before it.
    const sent: Entry[][] = [c0.entries];
    for (let n = 1; !(sent.flat().includes("a:applied") && sent.flat().includes("b:record")); n++) {
      const c = await h.call(n);
      sent.push(c.entries);
      c.answer(c.entries.map((e) => (e === "a:delivered" ? notFound : { outcome: "written" as const })));
    }
    const order = sent.flat();
    expect(order.filter((e) => e === "a:delivered")).toHaveLength(2);
    expect(order.filter((e) => e === "b:record")).toHaveLength(1);
    expect(order.lastIndexOf("a:delivered")).toBeLessThan(order.indexOf("a:applied"));
    // a:applied travels in the same call as a:delivered's last try (held behind it, then sent with it).
    expect(sent.findIndex((c) => c.includes("a:applied"))).toBe(sent.findLastIndex((c) => c.includes("a:delivered")));
    await h.batches.drain();
    expect(h.losses).toEqual([["not_found", 1]]);
    expect(h.lines.find((l) => l.level === "error")?.context).toMatchObject({ entry: "a:delivered", reason: "command a is not in the audit trail" });
  });

  it("drops an entry command-service refuses, counts it and says so once per interval", async () => {
    const h = harness({ logEveryMs: 60_000 });
    void h.add("a:record");
    void h.add("b:record");
    (await h.call(0)).answer([{ outcome: "invalid", message: "kind missing" }, { outcome: "invalid", message: "kind missing" }]);
    await h.batches.drain();
    expect(h.losses).toEqual([["refused", 1], ["refused", 1]]);
    expect(h.lines.filter((l) => l.level === "error")).toHaveLength(1);
  });

  it("keeps at most maxQueued entries while command-service is away, and counts and logs those dropped", async () => {
    const h = harness({ maxQueued: 3, logEveryMs: 60_000 });
    for (const e of ["a:1", "b:1", "c:1", "d:1", "e:1"]) void h.add(e);
    expect(h.losses).toEqual([["queue_full", 1], ["queue_full", 1]]);
    expect(h.lines.filter((l) => l.level === "error")).toHaveLength(1);
    expect(h.lines[0]!.message).toContain("queue full");
    (await h.call(0)).answer();
    await h.batches.drain();
  });

  it("takes a full queue of the default bound, and sends it all once command-service answers", async () => {
    const h = harness({ backoffMs: 1, maxBackoffMs: 1 });
    const first = h.add("x:0");
    (await h.call(0)).fail(new Error("unavailable"));
    await first;
    for (let i = 1; i < 100_000; i++) void h.add(`c${i}:record`);
    void h.add("over:record");
    expect(h.losses).toEqual([["queue_full", 1]]);
    let sent = 0;
    for (let n = 1; sent < 100_000; n++) {
      const c = await h.call(n);
      sent += c.entries.length;
      c.answer();
    }
    await h.batches.drain();
    expect(sent).toBe(100_000);
    expect(Math.max(...h.calls.map((c) => c.entries.length))).toBe(500);
  });

  it("gives up at shutdown after the drain's time, counting what was still queued", async () => {
    const h = harness({ backoffMs: 10_000, maxBackoffMs: 10_000 });
    const tried = h.add("a:record");
    void h.add("b:record");
    (await h.call(0)).fail(new Error("unavailable"));
    await tried;
    await h.batches.drain(20);
    expect(h.losses).toEqual([["shutdown", 2]]);
    expect(h.lines.at(-1)).toMatchObject({ level: "error", context: { entries: 2 } });
  });
  describe("an entry held for a later one that replaces it", () => {
    /** "x:delivered" waits `ms` for "x:applied", which replaces it. */
    const holding = (ms: number) => ({
      holdMs: (e: Entry) => (e.endsWith(":delivered") ? ms : 0),
      replaces: (later: Entry, earlier: Entry) => earlier.endsWith(":delivered") && later.endsWith(":applied"),
    });

    it("sends only the later entry, in the held one's place, and answers both callers after its first try", async () => {
      const h = harness(holding(60_000));
      const delivered = h.add("a:delivered");
      const applied = h.add("a:applied");
      void h.add("b:record");
      const c0 = await h.call(0);
      expect(c0.entries).toEqual(["a:applied", "b:record"]);
      let settled = 0;
      void delivered.then(() => settled++);
      void applied.then(() => settled++);
      await Promise.resolve();
      expect(settled).toBe(0); // not before the try
      c0.answer();
      await Promise.all([delivered, applied]);
      expect(h.batches.queued).toBe(0);
    });

    it("sends a held entry nobody replaces once its hold is over, while other commands' entries go at once", async () => {
      const h = harness(holding(40));
      void h.add("a:delivered");
      void h.add("b:record");
      const c0 = await h.call(0);
      expect(c0.entries).toEqual(["b:record"]);
      c0.answer();
      const c1 = await h.call(1);
      expect(c1.entries).toEqual(["a:delivered"]);
      c1.answer();
      await h.batches.drain();
    });

    it("replaces only the command's last queued entry, never one already sent, and lets a drain send what it holds", async () => {
      const h = harness(holding(60_000));
      // Not its command's last any more: the note queued after it stands between.
      void h.add("a:delivered");
      void h.add("a:note");
      void h.add("a:applied");
      // Sent (the drain releases it) before its replacement comes: the replacement goes after it.
      void h.add("b:delivered");
      const drained = h.batches.drain();
      const c0 = await h.call(0);
      expect(c0.entries).toEqual(["a:delivered", "a:note", "a:applied", "b:delivered"]);
      void h.add("b:applied");
      c0.answer();
      const c1 = await h.call(1);
      expect(c1.entries).toEqual(["b:applied"]);
      c1.answer();
      await drained;
    });
  });
});
