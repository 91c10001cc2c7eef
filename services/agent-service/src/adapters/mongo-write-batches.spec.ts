import type { Collection } from "mongodb";
import { describe, expect, it } from "vitest";
import { conditionalWriteBatches, type BatchedDocument } from "./mongo-write-batches.js";

interface Doc extends BatchedDocument {
  value: number;
}

/**
 * A collection in memory with the driver calls the batches make; every call
 * waits for `release` while `hold` is set, so a test can fill the batches
 * in flight and see what queues behind them.
 */
function memoryCollection(ids: string[]) {
  const docs = new Map<string, Doc>(ids.map((id) => [id, { _id: id, revision: 0n, value: 0 }]));
  const calls: Array<{ kind: "updateOne" | "bulkWrite" | "find"; size: number }> = [];
  let hold: Promise<void> | undefined;
  let release = () => {};
  const gate = async () => void (await hold);
  const update = (filter: { _id: string; revision: bigint }, set: Partial<Doc>) => {
    const d = docs.get(filter._id);
    if (!d || d.revision !== filter.revision) return 0;
    Object.assign(d, set);
    return 1;
  };
  const collection = {
    async updateOne(filter: { _id: string; revision: bigint }, u: { $set: Partial<Doc> }) {
      calls.push({ kind: "updateOne", size: 1 });
      await gate();
      return { matchedCount: update(filter, u.$set) };
    },
    async bulkWrite(ops: Array<{ updateOne: { filter: { _id: string; revision: bigint }; update: { $set: Partial<Doc> } } }>) {
      calls.push({ kind: "bulkWrite", size: ops.length });
      await gate();
      return { matchedCount: ops.reduce((n, op) => n + update(op.updateOne.filter, op.updateOne.update.$set), 0) };
    },
    find(filter: { _id: { $in: string[] } }) {
      calls.push({ kind: "find", size: filter._id.$in.length });
      return { toArray: async () => filter._id.$in.flatMap((id) => (docs.has(id) ? [{ ...docs.get(id)! }] : [])) };
    },
  } as unknown as Collection<Doc>;
  return {
    collection,
    docs,
    calls,
    holdCalls() {
      hold = new Promise((r) => (release = r));
    },
    releaseCalls() {
      hold = undefined;
      release();
    },
  };
}

const settle = () => new Promise((r) => setImmediate(r));

describe("conditional write batches", () => {
  it("sends a lone write at once, alone; gathers the writes that wait behind full flight into one bulkWrite", async () => {
    const m = memoryCollection(["a", "b", "c", "d", "e", "f"]);
    const batches = conditionalWriteBatches(m.collection, { inFlight: 2 });
    expect(await batches.write("a", 0n, { revision: 1n, value: 1 })).toBe(true);
    expect(m.calls).toEqual([{ kind: "updateOne", size: 1 }]);
    await settle(); // its batch has left the flight

    m.calls.length = 0;
    m.holdCalls();
    const writes = ["b", "c", "d", "e", "f"].map((id) => batches.write(id, 0n, { revision: 1n, value: 2 }));
    await settle();
    // Two alone fill the flight; the other three wait, then go together.
    expect(m.calls).toEqual([{ kind: "updateOne", size: 1 }, { kind: "updateOne", size: 1 }]);
    m.releaseCalls();
    expect(await Promise.all(writes)).toEqual([true, true, true, true, true]);
    expect(m.calls.slice(2)).toEqual([{ kind: "bulkWrite", size: 3 }]);
    expect([...m.docs.values()].map((d) => d.value)).toEqual([1, 2, 2, 2, 2, 2]);
  });

  it("tells a batch's conflicts from its writes by the mark it leaves, and writes one document once per batch", async () => {
    const m = memoryCollection(["a", "b", "c", "d"]);
    const batches = conditionalWriteBatches(m.collection, { inFlight: 1 });
    m.holdCalls();
    const first = batches.write("a", 0n, { revision: 1n, value: 1 });
    await settle();
    // Waiting together: b and d as read; c with a revision another writer has moved past; b twice.
    m.docs.get("c")!.revision = 5n;
    const waiting = [batches.write("b", 0n, { revision: 1n, value: 2 }), batches.write("c", 0n, { revision: 1n, value: 2 }), batches.write("d", 0n, { revision: 1n, value: 2 }), batches.write("b", 1n, { revision: 2n, value: 3 })];
    m.releaseCalls();
    expect(await first).toBe(true);
    expect(await Promise.all(waiting)).toEqual([true, false, true, true]);
    expect(m.calls.map((c) => `${c.kind} ${c.size}`)).toEqual(["updateOne 1", "bulkWrite 3", "find 3", "updateOne 1"]);
    expect(m.docs.get("b")).toMatchObject({ revision: 2n, value: 3 });
    expect(m.docs.get("c")).toMatchObject({ revision: 5n, value: 0 });
  });

  it("fails every write of a batch the store refused, and goes on with the next", async () => {
    const m = memoryCollection(["a", "b", "c"]);
    const batches = conditionalWriteBatches(m.collection, { inFlight: 1 });
    const failing = m.collection.bulkWrite.bind(m.collection);
    let fail = true;
    (m.collection as unknown as { bulkWrite: typeof failing }).bulkWrite = async (...args) => {
      if (fail) throw new Error("store refused");
      return failing(...args);
    };
    m.holdCalls();
    const first = batches.write("a", 0n, { revision: 1n, value: 1 });
    await settle();
    const two = [batches.write("b", 0n, { revision: 1n, value: 2 }), batches.write("c", 0n, { revision: 1n, value: 2 })];
    m.releaseCalls();
    await expect(first).resolves.toBe(true);
    await expect(Promise.all(two)).rejects.toThrow("store refused");
    fail = false;
    expect(await batches.write("b", 0n, { revision: 1n, value: 2 })).toBe(true);
  });
});
