import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CommandRecordSchema,
  type CommandRecord,
} from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { bytesOfBinary, guardMongo, upsertWithRetry } from "@fleetplane/platform/mongo-store";
import { Binary, type Db, type Filter } from "mongodb";
import type { CommandRepository } from "../domain/command-repository.js";

/** One document per audit record; `instanceUid` is copied out of the blob so per-agent listings use an index. */
interface CommandDocument {
  _id: string; // record id, UUIDv7 hex: sorting by _id sorts by creation time
  instanceUid: string;
  proto: Binary;
}

const COMMANDS = "commands";

/** Creates the index per-agent listings rely on. Run once at start-up (a no-op when it exists). */
export async function ensureCommandIndexes(db: Db): Promise<void> {
  await guardMongo(() => db.collection(COMMANDS).createIndex({ instanceUid: 1, _id: -1 }));
}

/** Audit records in MongoDB, newest first like the embedded store. */
export function createMongoCommandRepository(db: Db): CommandRepository {
  const commands = db.collection<CommandDocument>(COMMANDS);
  const decode = (doc: CommandDocument): CommandRecord => fromBinary(CommandRecordSchema, bytesOfBinary(doc.proto));

  return {
    async save(record) {
      const doc = { instanceUid: record.instanceUid, proto: new Binary(toBinary(CommandRecordSchema, record)) };
      await guardMongo(() => upsertWithRetry(() => commands.replaceOne({ _id: record.id }, doc, { upsert: true })));
    },
    async get(id) {
      const doc = await guardMongo(() => commands.findOne({ _id: id }));
      return doc ? decode(doc) : undefined;
    },
    async list({ instanceUid, limit, after }) {
      if (limit <= 0) return [];
      const filter: Filter<CommandDocument> = {};
      if (instanceUid) filter.instanceUid = instanceUid; // "" means every agent, as in the embedded store
      if (after) filter._id = { $lt: after };
      const docs = await guardMongo(() => commands.find(filter).sort({ _id: -1 }).limit(limit).toArray());
      return docs.map(decode);
    },
    async ping() {
      await guardMongo(() => db.command({ ping: 1 }));
    },
  };
}
