import { randomBytes } from "node:crypto";
import type { AnyBulkWriteOperation, Collection, Filter, UpdateFilter } from "mongodb";
import { filterWhile, guardMongo, updateByIdOp, updateByIdWhile, type WriteGuard } from "@fleetplane/platform-node/mongo";

/** The fields a batched conditional write relies on. */
export interface BatchedDocument {
  _id: string;
  revision: bigint | number;
  /** Which batch last wrote the document (see conditionalWriteBatches); absent until one did. */
  writeBatch?: string;
}

export interface ConditionalWriteBatchOptions {
  /** Batches sent at once; more writes wait and go out together. Default 4. */
  inFlight?: number;
  /** Writes in one batch at most. Default 256. */
  maxBatch?: number;
}

/**
 * Conditional writes ("set these fields where `_id` and `revision` are as
 * read") of documents that wait together go out as one unordered bulkWrite.
 * Each write to the store costs the caller's process about a millisecond
 * of CPU in the driver and the socket, whatever it carries: measured with
 * the driver against FerretDB 2 on this machine, 1.07 ms per updateOne
 * against 0.13 ms per update in bulkWrites of 16, and the store took 7
 * times as many (docs/performance.md §18). A rollout's pins and its agents'
 * reports are such writes, dozens at a time.
 *
 * Up to `inFlight` batches are sent at once, so a lone write goes out at
 * once, alone, as before; only writes that would have queued for the pool
 * are gathered. A bulkWrite says how many of its updates matched, not
 * which: when some did not (the document's revision had moved: a conflict),
 * the batch reads back the mark it set (`writeBatch`, random per batch) to
 * tell its writes from the others'. One document is written at most once
 * per batch; a second write of it waits for the next.
 *
 * Resolves true when written, false on a revision conflict (or no such
 * document); rejects with the store's error when the batch failed, which
 * may have written some of it — as a lone write that failed late may have.
 */
export function conditionalWriteBatches<D extends BatchedDocument>(collection: Collection<D>, o: ConditionalWriteBatchOptions = {}) {
  const guard = (p: ConditionalWrite<D>): WriteGuard<D>[] => [{ field: "revision", oneOf: [p.expected] }, ...(p.also ?? [])];
  const batches = queuedBatches<ConditionalWrite<D>, boolean>(async (batch) => {
    if (batch.length === 1) {
      // A lone write: the plain conditional write, as it was before batches.
      const p = batch[0]!;
      const { wrote } = await guardMongo(() => updateByIdWhile(collection, "mongodb", p.id, guard(p), p.fields));
      return [wrote];
    }
    const mark = randomBytes(8).toString("hex");
    const ops = batch.map((p): AnyBulkWriteOperation<D> => updateByIdOp("mongodb", filterWhile<D>("mongodb", p.id, guard(p)), { $set: { ...p.fields, writeBatch: mark } } as UpdateFilter<D>));
    const { matchedCount } = await guardMongo(() => collection.bulkWrite(ops, { ordered: false }));
    if (matchedCount === batch.length) return batch.map(() => true);
    const marked = await guardMongo(() => collection.find({ _id: { $in: batch.map((p) => p.id) } } as Filter<D>, { projection: { writeBatch: 1 } }).toArray());
    const written = new Set<string>(marked.filter((d) => d.writeBatch === mark).map((d) => String(d._id)));
    return batch.map((p) => written.has(p.id));
  }, o);
  return {
    /** `also`: further conditions the write holds to beside the revision (updateByIdWhile's guards). */
    write(id: string, expected: bigint, fields: Partial<D>, also?: readonly WriteGuard<D>[]): Promise<boolean> {
      return batches.call({ id, expected, fields, ...(also ? { also } : {}) });
    },
  };
}

interface ConditionalWrite<D extends BatchedDocument> {
  id: string;
  expected: bigint;
  fields: Partial<D>;
  also?: readonly WriteGuard<D>[];
}

/**
 * The queue under conditionalWriteBatches, for any write by `_id` whose
 * batch goes out as one store operation: calls wait together while
 * `inFlight` batches are out, a batch takes at most `maxBatch` of them and
 * one per `id` (a second write of a document waits for the next batch, so
 * the writes of one document keep their order). `send` answers each call
 * of its batch, in the batch's order; when it throws, every call of the
 * batch rejects with that error.
 */
export function queuedBatches<C extends { id: string }, R>(send: (batch: readonly C[]) => Promise<R[]>, o: ConditionalWriteBatchOptions = {}) {
  const inFlight = o.inFlight ?? 4;
  const maxBatch = o.maxBatch ?? 256;
  interface Queued {
    call: C;
    resolve: (result: R) => void;
    reject: (err: unknown) => void;
  }
  const queue: Queued[] = [];
  let running = 0;

  const take = (): Queued[] => {
    const ids = new Set<string>();
    const batch: Queued[] = [];
    const rest: Queued[] = [];
    for (const q of queue) {
      if (batch.length < maxBatch && !ids.has(q.call.id)) {
        ids.add(q.call.id);
        batch.push(q);
      } else rest.push(q);
    }
    queue.splice(0, queue.length, ...rest);
    return batch;
  };

  const run = async (batch: Queued[]): Promise<void> => {
    try {
      const results = await send(batch.map((q) => q.call));
      batch.forEach((q, i) => q.resolve(results[i]!));
    } catch (err) {
      for (const q of batch) q.reject(err);
    }
  };

  const pump = () => {
    while (running < inFlight && queue.length > 0) {
      running++;
      void run(take()).finally(() => {
        running--;
        pump();
      });
    }
  };

  return {
    call(call: C): Promise<R> {
      return new Promise((resolve, reject) => {
        queue.push({ call, resolve, reject });
        pump();
      });
    },
  };
}
