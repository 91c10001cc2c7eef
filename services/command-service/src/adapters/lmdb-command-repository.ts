import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  CommandRecordSchema,
  CommandState,
  type CommandRecord,
} from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import type { EmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import type { Database } from "lmdb";
import type { CommandRepository, StateChange } from "../domain/command-repository.js";

/**
 * Audit records in the embedded store. Ids are UUIDv7 hex, so key order is
 * creation order and "newest first" is a reverse range scan. A second table
 * keyed "<agent uid>/<id>" serves per-agent listings without a full scan. A
 * third holds the ids of PENDING records only, kept in the same write
 * transaction as the record, so counting pending commands (a metric read on
 * every scrape) walks the pending set, never the whole trail.
 */
export function createLmdbCommandRepository(store: EmbeddedStore): CommandRepository {
  const records = store.openDB<Buffer, string>({ name: "commands", encoding: "binary" });
  const byAgent = store.openDB<string, string>({ name: "commands-by-agent", encoding: "string" });
  const pending = store.openDB<string, string>({ name: "commands-pending", encoding: "string" });
  // "<namespace>/<id>" → id: one namespace's records without a full scan.
  const byNamespace = store.openDB<string, string>({ name: "commands-by-namespace", encoding: "string" });
  const indexVersions = store.openDB<number, string>({ name: "commands-index-versions", encoding: "ordered-binary" });

  const decode = (bytes: Buffer | undefined) => (bytes ? fromBinary(CommandRecordSchema, bytes) : undefined);
  buildPendingIndexOnce(records, pending, indexVersions);

  /** Writes a record and its index entries; inside a transaction. */
  const put = (record: CommandRecord) => {
    records.put(record.id, Buffer.from(toBinary(CommandRecordSchema, record)));
    if (record.instanceUid) byAgent.put(`${record.instanceUid}/${record.id}`, record.id);
    byNamespace.put(`${namespaceOf(record)}/${record.id}`, record.id);
    if (record.state === CommandState.PENDING) pending.put(record.id, "");
    else pending.remove(record.id);
  };

  /** Moves a record if its state is one of `from`; the record as it then stands, and whether it moved. Inside a transaction. */
  const advance = (id: string, change: StateChange, from: readonly CommandState[]) => {
    const record = decode(records.get(id));
    if (!record || !from.includes(record.state)) return { record, moved: false };
    record.state = change.state;
    record.detail = change.detail;
    record.stateChangedAt = timestampFromMs(change.stateChangedAtMs);
    put(record);
    return { record, moved: true };
  };

  return {
    async save(record) {
      await store.transaction(() => put(record));
    },
    async get(id) {
      return decode(records.get(id));
    },
    async insertNew(record) {
      return store.transaction(() => {
        const existing = decode(records.get(record.id));
        if (!existing) put(record);
        return existing;
      });
    },
    async insertNewMany(many) {
      await store.transaction(() => {
        for (const record of many) if (!records.doesExist(record.id)) put(record);
      });
    },
    async advanceState(id, change, from) {
      return store.transaction(() => advance(id, change, from).record);
    },
    async advanceStates(changes) {
      // One transaction for the batch: one commit, one sync.
      return store.transaction(() =>
        changes.map(({ id, change, from }) => {
          const { record, moved } = advance(id, change, from);
          return !record ? "missing" : moved ? "moved" : "kept";
        }),
      );
    },
    async list({ instanceUid, namespace, limit, after }) {
      const out: CommandRecord[] = [];
      if (namespace && !instanceUid) {
        const prefix = `${namespace}/`;
        const start = after ? `${prefix}${after}` : `${prefix}\uffff`;
        for (const { key, value } of byNamespace.getRange({ start, end: prefix, reverse: true })) {
          if (key === start && after) continue;
          const rec = decode(records.get(value));
          if (rec) out.push(rec);
          if (out.length >= limit) break;
        }
        return out;
      }
      if (instanceUid) {
        const prefix = `${instanceUid}/`;
        const start = after ? `${prefix}${after}` : `${prefix}\uffff`;
        for (const { key, value } of byAgent.getRange({ start, end: prefix, reverse: true })) {
          if (key === start && after) continue;
          const rec = decode(records.get(value));
          if (rec && (!namespace || namespaceOf(rec) === namespace)) out.push(rec);
          if (out.length >= limit) break;
        }
        return out;
      }
      const range = after ? { start: after, reverse: true } : { reverse: true };
      for (const { key, value } of records.getRange(range)) {
        if (after && key === after) continue;
        out.push(fromBinary(CommandRecordSchema, value));
        if (out.length >= limit) break;
      }
      return out;
    },
    async countPending() {
      return pending.getKeysCount();
    },
    async ping() {
      records.getKeysCount({ limit: 1 });
    },
  };
}

/**
 * Stores written before the pending index existed have records but no index:
 * fill it from one scan of the trail, once (a marker records that it was
 * built), in one transaction so no save can slip between scan and marker.
 */
function buildPendingIndexOnce(records: Database<Buffer, string>, pending: Database<string, string>, versions: Database<number, string>): void {
  if (versions.get("pending") === 1) return;
  versions.transactionSync(() => {
    for (const { key, value } of records.getRange()) {
      if (fromBinary(CommandRecordSchema, value).state === CommandState.PENDING) pending.putSync(key, "");
    }
    versions.putSync("pending", 1);
  });
}

/** A record's namespace; records written before namespaces existed are in "default". */
function namespaceOf(record: CommandRecord): string {
  return record.namespace || "default";
}
