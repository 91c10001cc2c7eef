/**
 * What an audit record's writes cost the store (docs/performance.md §48):
 * N records of a rollout's shape (a remote config for one agent each)
 * inserted PENDING through the MongoDB command repository in batches of
 * 500 (insertNewMany, as WriteAuditBatch writes them), then moved to
 * APPLIED in batches of 500 (advanceStates) — a moved agent's two record
 * writes in a rollout. Prints the store's CPU (every postgres and ferretdb
 * process, bench/proc-stats.ts) per record for each of the two, and the
 * pending count's time:
 *
 *   flock /tmp/fp-heavy.lock npx tsx bench/command-write-probe.ts MONGO_URL [N] [rounds] [variant...]
 *
 * Variants: `current` (ensureCommandIndexes) and `state_1` (the indexes
 * before pending_commands: `state_1` holding every record). Each round uses
 * fresh records; each variant a database of its own, dropped after.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { CommandRecordSchema, CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";
import { connectMongo } from "../services/platform-node/src/mongo.js";
import { createMongoCommandRepository, ensureCommandIndexes } from "../services/command-service/src/adapters/mongo-command-repository.js";
import { storeServerCpuMs } from "./proc-stats.js";

const [url, nText, roundsText, ...variantArgs] = process.argv.slice(2);
if (!url) throw new Error("usage: command-write-probe.ts MONGO_URL [N] [rounds] [variant...]");
const n = Number(nText ?? 10_000);
const rounds = Number(roundsText ?? 3);
const variants = variantArgs.length > 0 ? variantArgs : ["state_1", "current", "state_1", "current"];
const BATCH = 500;

const logger = { info() {}, warn() {}, error() {}, debug() {} } as never;

/** One round's records: a rollout's remote config for each of N agents. */
function records(round: number) {
  return Array.from({ length: n }, () =>
    create(CommandRecordSchema, {
      id: instanceUidToHex(uuidv7Bytes()),
      instanceUid: instanceUidToHex(uuidv7Bytes()),
      namespace: "default",
      kind: "remote_config",
      state: CommandState.PENDING,
      requestedBy: `rollout:probe-${round}`,
      configHash: "07".repeat(32),
      createdAt: timestampFromMs(Date.now()),
    }),
  );
}

/** The store's CPU per record of `write` over `all` in batches. */
async function storeMsPerRecord<T>(all: T[], write: (batch: T[]) => Promise<unknown>): Promise<number> {
  const store0 = storeServerCpuMs();
  for (let i = 0; i < all.length; i += BATCH) await write(all.slice(i, i + BATCH));
  return (storeServerCpuMs() - store0) / all.length;
}

async function probe(variant: string, k: number): Promise<void> {
  const dbName = `command_write_probe_${variant}_${k}_${process.pid}`;
  const store = await connectMongo(url!, { logger, dbName });
  try {
    if (variant === "current") await ensureCommandIndexes(store.db, { server: store.server });
    else if (variant === "state_1") {
      const commands = store.db.collection("commands");
      for (const key of [{ instanceUid: 1, _id: -1 }, { state: 1 }, { namespace: 1, _id: -1 }] as Array<Record<string, 1 | -1>>) await commands.createIndex(key);
    } else throw new Error(`unknown variant ${variant}`);
    const indexes = (await store.db.collection("commands").indexes()).map((i) => `${i.name}${i.partialFilterExpression ? " (partial)" : ""}`);
    const repo = createMongoCommandRepository(store.db, { server: store.server });
    console.log(`${variant}: ${n} records a round, indexes: ${indexes.join(", ")} (${store.server})`);
    for (let r = 0; r < rounds; r++) {
      const all = records(r);
      const inserted = await storeMsPerRecord(all, (batch) => repo.insertNewMany(batch));
      const moved = await storeMsPerRecord(all, (batch) =>
        repo.advanceStates(batch.map((rec) => ({ id: rec.id, change: { state: CommandState.APPLIED, detail: "", stateChangedAtMs: Date.now() }, from: [CommandState.PENDING, CommandState.DELIVERED] }))),
      );
      const t0 = performance.now();
      const pending = await repo.countPending();
      console.log(
        `  round ${r + 1}: store ${inserted.toFixed(3)} ms CPU per record inserted, ${moved.toFixed(3)} per record moved to APPLIED, ${(inserted + moved).toFixed(3)} both; pending count ${pending} in ${(performance.now() - t0).toFixed(1)} ms`,
      );
    }
  } finally {
    await store.db.dropDatabase().catch(() => {});
    await store.close();
  }
}

for (const [k, v] of variants.entries()) await probe(v, k);
