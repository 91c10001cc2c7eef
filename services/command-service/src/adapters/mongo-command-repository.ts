import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  CommandRecordSchema,
  CommandState,
  type CommandRecord,
} from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { bytesOfBinary, createNamedIndexes, dropIndexesIfPresent, filterWhile, guardMongo, isDuplicateKey, updateByIdOp, updateByIdWhile, upsertWithRetry, type MongoServer, type NamedIndex } from "@fleetplane/platform-node/mongo";
import { Binary, MongoBulkWriteError, type AnyBulkWriteOperation, type Db, type Filter } from "mongodb";
import type { CommandRepository } from "../domain/command-repository.js";

/** One document per audit record; the fields queries filter on are copied out of the blob so they use an index. */
interface CommandDocument {
  _id: string; // record id, UUIDv7 hex: sorting by _id sorts by creation time
  instanceUid: string;
  state?: number; // CommandState; absent on documents written before it was copied out
  namespace?: string; // absent on documents written before namespaces existed (read as "default")
  // Set by advanceState, which moves a record on without rewriting its blob;
  // they (and `state`) override the blob's fields when read.
  detail?: string;
  stateChangedAtMs?: number;
  proto: Binary;
}

const COMMANDS = "commands";

/** The records pending_commands holds: those not yet delivered (the gauge counts them). */
const PENDING = { state: CommandState.PENDING } as const;

/**
 * The commands collection's indexes. Every write of a record writes an
 * entry in each index that holds it; on FerretDB 2 (PostgreSQL) that is
 * most of a write's cost (docs/performance.md §42), and a rollout writes
 * each moved agent's record twice. The pending count needs only the
 * records still PENDING — a few in a settled fleet — so its index holds
 * only those: a record's move past PENDING writes no entry there.
 */
export const COMMAND_INDEXES: readonly NamedIndex<CommandDocument>[] = [
  // One agent's commands, newest first.
  { name: "instanceUid_1__id_-1", key: { instanceUid: 1, _id: -1 } },
  // One namespace's audit trail, newest first.
  { name: "namespace_1__id_-1", key: { namespace: 1, _id: -1 } },
  // Counting pending records (the fleetplane_commands_pending gauge): the pending ones.
  { name: "pending_commands", key: { state: 1 }, partialFilterExpression: PENDING },
];

/** Indexes earlier versions made that COMMAND_INDEXES replaces, dropped at start: `state_1` held every record. */
export const REPLACED_COMMAND_INDEXES: readonly string[] = ["state_1"];

/**
 * Creates the indexes queries rely on (createNamedIndexes), drops those
 * they replace (before making their replacement, as ensureAgentIndexes
 * does, and for the same reason), and copies `state` into documents
 * written before it was copied out. Run at every replica's start-up; a
 * no-op the second time.
 */
export async function ensureCommandIndexes(db: Db, o: { server: MongoServer }): Promise<void> {
  await guardMongo(async () => {
    const commands = db.collection<CommandDocument>(COMMANDS);
    await dropIndexesIfPresent(commands, REPLACED_COMMAND_INDEXES);
    await createNamedIndexes(commands, COMMAND_INDEXES, o.server);
    for await (const doc of commands.find({ state: { $exists: false } })) {
      const state = fromBinary(CommandRecordSchema, bytesOfBinary(doc.proto)).state;
      await commands.updateOne({ _id: doc._id, state: { $exists: false } }, { $set: { state } });
    }
  });
}

/**
 * Audit records in MongoDB, newest first like the embedded store.
 *
 * A state change is guarded by the states it may move from (updateByIdWhile:
 * one conditional write on MongoDB, a look-up and a write by `_id` on
 * FerretDB), so two replicas racing cannot move a record backwards; the
 * audit client writes one command's changes in order (connect-command-audit.ts).
 */
export function createMongoCommandRepository(db: Db, o: { server?: MongoServer } = {}): CommandRepository {
  const commands = db.collection<CommandDocument>(COMMANDS);
  const server = o.server ?? "mongodb";
  const decode = (doc: CommandDocument): CommandRecord => {
    const record = fromBinary(CommandRecordSchema, bytesOfBinary(doc.proto));
    if (doc.state !== undefined) record.state = doc.state;
    if (doc.detail !== undefined) record.detail = doc.detail;
    if (doc.stateChangedAtMs !== undefined) record.stateChangedAt = timestampFromMs(doc.stateChangedAtMs);
    return record;
  };
  const documentOf = (record: CommandRecord): Omit<CommandDocument, "_id"> => ({ instanceUid: record.instanceUid, state: record.state, namespace: record.namespace || "default", proto: new Binary(toBinary(CommandRecordSchema, record)) });

  return {
    async save(record) {
      await guardMongo(() => upsertWithRetry(() => commands.replaceOne({ _id: record.id }, documentOf(record), { upsert: true })));
    },
    async get(id) {
      const doc = await guardMongo(() => commands.findOne({ _id: id }));
      return doc ? decode(doc) : undefined;
    },
    async insertNew(record) {
      try {
        await guardMongo(() => commands.insertOne({ _id: record.id, ...documentOf(record) }));
        return undefined;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      const doc = await guardMongo(() => commands.findOne({ _id: record.id }));
      return doc ? decode(doc) : record;
    },
    async insertNewMany(many) {
      if (many.length === 0) return;
      try {
        // Unordered: a record already there (a retried batch) does not stop the rest.
        await guardMongo(() => commands.insertMany(many.map((record) => ({ _id: record.id, ...documentOf(record) })), { ordered: false }));
      } catch (err) {
        if (!(err instanceof MongoBulkWriteError) || !onlyDuplicateKeys(err)) throw err;
      }
    },
    async advanceStates(changes) {
      if (changes.length === 0) return [];
      // One read of the states, then one write of those that may move. The
      // write keeps the guard on MongoDB (another replica may move a record
      // between the two); on FerretDB it is by _id, as updateByIdWhile's.
      const ids = changes.map((c) => c.id);
      const found = await guardMongo(() => commands.find({ _id: { $in: ids } }, { projection: { state: 1 } }).toArray());
      const states = new Map(found.map((d) => [d._id, d.state]));
      const outcomes = changes.map(({ id, from }) => (!states.has(id) ? "missing" : from.includes(states.get(id) as CommandState) ? "moved" : "kept"));
      const ops = changes.flatMap(({ id, change, from }, i): Array<AnyBulkWriteOperation<CommandDocument>> => {
        if (outcomes[i] !== "moved") return [];
        return [updateByIdOp(server, filterWhile<CommandDocument>(server, id, { field: "state", oneOf: from }), { $set: { state: change.state, detail: change.detail, stateChangedAtMs: change.stateChangedAtMs } })];
      });
      if (ops.length > 0) await guardMongo(() => commands.bulkWrite(ops, { ordered: false }));
      return outcomes;
    },
    async advanceState(id, change, from) {
      const fields = { state: change.state, detail: change.detail, stateChangedAtMs: change.stateChangedAtMs };
      // The states it may move from are the guard: two replicas racing cannot move a record backwards.
      const { wrote, before } = await guardMongo(() => updateByIdWhile(commands, server, id, { field: "state", oneOf: from }, fields, { keepBefore: true }));
      if (wrote) {
        const record = decode(before!);
        record.state = change.state;
        record.detail = change.detail;
        record.stateChangedAt = timestampFromMs(change.stateChangedAtMs);
        return record;
      }
      // Not moved: unknown, or already at or past the state (the record as it is).
      if (before) return decode(before);
      const doc = await guardMongo(() => commands.findOne({ _id: id }));
      return doc ? decode(doc) : undefined;
    },
    async list({ instanceUid, namespace, limit, after }) {
      if (limit <= 0) return [];
      const filter: Filter<CommandDocument> = {};
      if (instanceUid) filter.instanceUid = instanceUid; // "" means every agent, as in the embedded store
      if (namespace) filter.namespace = namespace === "default" ? { $in: [namespace, null as unknown as string] } : namespace;
      if (after) filter._id = { $lt: after };
      const docs = await guardMongo(() => commands.find(filter).sort({ _id: -1 }).limit(limit).toArray());
      return docs.map(decode);
    },
    async countPending() {
      // An index count (COUNT_SCAN in MongoDB) over pending_commands, whose filter this is: proportional to the pending records only.
      return guardMongo(() => commands.countDocuments(PENDING));
    },
    async ping() {
      await guardMongo(() => db.command({ ping: 1 }));
    },
  };
}

/** A bulk insert refused only for ids already there (a record kept as first written). */
function onlyDuplicateKeys(err: MongoBulkWriteError): boolean {
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  return errors.length > 0 && errors.every((e) => e.code === 11000);
}
