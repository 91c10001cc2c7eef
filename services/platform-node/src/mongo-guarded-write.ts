import type { AnyBulkWriteOperation, Collection, Document, Filter, MatchKeysAndValues, UpdateFilter, WithId } from "mongodb";
import type { MongoServer } from "./mongo-store.js";

/**
 * A condition of a guarded write: the document's `field` holds one of
 * `oneOf` (a `null` there also takes a document without the field). A write
 * may name several, all of which must hold.
 */
export interface WriteGuard<D extends Document> {
  field: keyof D & string;
  oneOf: readonly unknown[];
}

/** What a guarded write found: whether it wrote, and the document as it was before, when it was read. */
export interface GuardedWrite<D extends Document> {
  wrote: boolean;
  /** With `keepBefore`: always there when `wrote`; when not, there only if the document exists and was read (FerretDB). */
  before?: WithId<D>;
}

/**
 * Sets `set` on the document `id` only while its `field` still holds one of
 * `oneOf`: optimistic concurrency on one document, no transaction (an agent's
 * revision, an audit record's state).
 *
 * On MongoDB this is one conditional write, checked by the database. On
 * FerretDB it is a look-up by `_id` and a write by `_id`: FerretDB 1.x scans
 * the whole collection for a filter with any field besides `_id` (measured:
 * 35-59 such updates a second against 1,000-1,400 by `_id` alone over 1,000
 * agents, docs/performance.md §17), which made every agent save cost the
 * collection. Two steps lose nothing there: FerretDB 1.x was seen to let two
 * conditional updates of one document both match anyway, which is why each
 * replica writes only the records it owns (agent-store.ts, pin-routing.ts).
 *
 * With `keepBefore`, the document as it was before the write comes back
 * (on MongoDB a findOneAndUpdate); without, only whether it wrote (an
 * updateOne, nothing sent back, and on FerretDB only the guard's field read).
 */
export async function updateByIdWhile<D extends Document & { _id: string }>(
  collection: Collection<D>,
  server: MongoServer,
  id: string,
  guard: WriteGuard<D> | readonly WriteGuard<D>[],
  set: MatchKeysAndValues<D>,
  o: { keepBefore?: boolean } = {},
): Promise<GuardedWrite<D>> {
  if (server === "ferretdb") {
    const guards = guardsOf(guard);
    const before = await collection.findOne({ _id: id } as Filter<D>, o.keepBefore ? {} : { projection: Object.fromEntries(guards.map((g) => [g.field, 1])) });
    if (!before) return { wrote: false };
    if (!guardsHold(guards, before)) return { wrote: false, before };
    await collection.updateOne({ _id: id } as Filter<D>, { $set: set });
    return { wrote: true, before };
  }
  const filter = filterWhile<D>("mongodb", id, guard);
  if (!o.keepBefore) return { wrote: (await collection.updateOne(filter, { $set: set })).matchedCount > 0 };
  const before = await collection.findOneAndUpdate(filter, { $set: set }, { returnDocument: "before" });
  return before ? { wrote: true, before } : { wrote: false };
}

/**
 * The filter of a write guarded like updateByIdWhile's, for callers that
 * make the write themselves (in a bulkWrite): on MongoDB the guard is in the
 * filter; on FerretDB it is `_id` alone, and the caller has read the guard's
 * field first and writes only where it holds (updateByIdWhile says why).
 */
export function filterWhile<D extends Document & { _id: string }>(server: MongoServer, id: string, guard: WriteGuard<D> | readonly WriteGuard<D>[]): Filter<D> {
  if (server === "ferretdb") return { _id: id } as Filter<D>;
  const filter: Record<string, unknown> = { _id: id };
  for (const g of guardsOf(guard)) filter[g.field] = g.oneOf.length === 1 ? g.oneOf[0] : { $in: [...g.oneOf] };
  return filter as Filter<D>;
}

function guardsOf<D extends Document>(guard: WriteGuard<D> | readonly WriteGuard<D>[]): readonly WriteGuard<D>[] {
  return Array.isArray(guard) ? (guard as readonly WriteGuard<D>[]) : [guard as WriteGuard<D>];
}

/** Whether every guard holds on `doc` as read (FerretDB's look-up): as the filter would match it, a missing field as `null`. */
export function guardsHold<D extends Document>(guard: WriteGuard<D> | readonly WriteGuard<D>[], doc: Document): boolean {
  return guardsOf(guard).every((g) => g.oneOf.some((value) => sameValue(doc[g.field] ?? null, value)));
}

/**
 * A bulkWrite's update of one document named by `_id` in `filter` (with or
 * without a guard beside it: filterWhile), for the server it goes to.
 *
 * FerretDB 1.x: sent as `updateMany`, the same write when the filter names
 * one `_id`, but not the same work there: its update command keeps each
 * `updateOne` statement's query open until the whole command ends (one
 * SQLite connection each, closed by a deferred call per statement), while
 * each statement's write takes another connection from its pool of 100. A
 * bulkWrite of about 100 matching `updateOne`s — or a few of dozens at once,
 * from two replicas and command-service — waits forever for a connection
 * that none will free, and with it every request to the database (seen in
 * CI: a distributed rollout's pins, a burst of audit-state moves; FerretDB's
 * goroutines all waiting in database/sql's conn). An `updateMany` statement
 * reads its query to the end, which closes it before the next statement.
 *
 * MongoDB: `updateOne`, which keeps the batch a retryable write (the driver
 * retries it once on a failover; a batch holding a multi-document update is
 * not retried). Every bulkWrite update by `_id` goes through here; `upsert`
 * creates the document when the filter finds none.
 */
export function updateByIdOp<D extends Document>(server: MongoServer, filter: Filter<D>, update: UpdateFilter<D>, o: { upsert?: boolean } = {}): AnyBulkWriteOperation<D> {
  const upsert = o.upsert ? { upsert: true } : {};
  return server === "ferretdb" ? { updateMany: { filter, update, ...upsert } } : { updateOne: { filter, update, ...upsert } };
}

/**
 * Equality as the database compares the guard: numbers of either BSON width
 * are equal by value (a collection read with `useBigInt64` gives int64 fields
 * as bigint, small int32 ones as number).
 */
export function sameValue(stored: unknown, wanted: unknown): boolean {
  if (stored === wanted) return true;
  if (isInteger(stored) && isInteger(wanted)) return BigInt(stored) === BigInt(wanted);
  return false;
}

function isInteger(v: unknown): v is number | bigint {
  return typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v));
}
