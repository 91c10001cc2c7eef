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
  // Each repository keeps its tables as named LMDB databases (agents, commands,
  // certificates, packages, fleet resources, access …; about 30 today). The
  // limit is read at open, not stored in the file: raising it is safe.
  return open({ path: join(dir, "fleetplane.mdb"), maxDbs: 64 });
}
