import { open, type RootDatabase } from "lmdb";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export type EmbeddedStore = RootDatabase;

/**
 * Standalone mode keeps its data in LMDB (through lmdb-js): an embedded,
 * crash-safe, memory-mapped B+tree with ACID transactions. Writes through
 * `put()` are batched into transactions by lmdb-js and resolve once committed
 * to disk, so a resolved save survives a crash or restart.
 */
export function openEmbeddedStore(dir: string): EmbeddedStore {
  mkdirSync(dir, { recursive: true });
  // Named databases: 16 before rollouts added 4; room to grow.
  return open({ path: join(dir, "fleetplane.mdb"), maxDbs: 32 });
}
