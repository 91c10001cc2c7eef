import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CommandRecordSchema,
  type CommandRecord,
} from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import type { EmbeddedStore } from "@fleetplane/platform/embedded-store";
import type { CommandRepository } from "../domain/command-repository.js";

/**
 * Audit records in the embedded store. Ids are UUIDv7 hex, so key order is
 * creation order and "newest first" is a reverse range scan. A second table
 * keyed "<agent uid>/<id>" serves per-agent listings without a full scan.
 */
export function createLmdbCommandRepository(store: EmbeddedStore): CommandRepository {
  const records = store.openDB<Buffer, string>({ name: "commands", encoding: "binary" });
  const byAgent = store.openDB<string, string>({ name: "commands-by-agent", encoding: "string" });

  const decode = (bytes: Buffer | undefined) => (bytes ? fromBinary(CommandRecordSchema, bytes) : undefined);

  return {
    async save(record) {
      await store.transaction(() => {
        records.put(record.id, Buffer.from(toBinary(CommandRecordSchema, record)));
        byAgent.put(`${record.instanceUid}/${record.id}`, record.id);
      });
    },
    async get(id) {
      return decode(records.get(id));
    },
    async list({ instanceUid, limit, after }) {
      const out: CommandRecord[] = [];
      if (instanceUid) {
        const prefix = `${instanceUid}/`;
        const start = after ? `${prefix}${after}` : `${prefix}\uffff`;
        for (const { key, value } of byAgent.getRange({ start, end: prefix, reverse: true })) {
          if (key === start && after) continue;
          const rec = decode(records.get(value));
          if (rec) out.push(rec);
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
    async ping() {
      records.getKeysCount({ limit: 1 });
    },
  };
}
