import { open, type RootDatabase } from "lmdb";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export type EmbeddedStore = RootDatabase;

/**
 * The address space the store's file is mapped into at open (bytes), on a
 * 64-bit process: 16 GiB, far past any standalone fleet (100,000 agents
 * take ~200 MiB). Only address space: the file still grows as data is
 * written, not to this size. Why set it: left to itself, lmdb-js starts
 * with a small map and, each time the file outgrows it, maps the file
 * again at twice the size and keeps every earlier map (buffers read from
 * it may still point into it). The pages of every map count in the
 * process's RSS: at 10,000 agents the file's 16.8 MiB were resident as
 * 28 MiB across ~10 maps (docs/performance.md §36).
 */
export const EMBEDDED_STORE_MAP_BYTES = 16 * 2 ** 30;

/** 32-bit processes cannot reserve that much address space: lmdb-js maps in chunks there (its default). */
const is64Bit = ["x64", "arm64", "ppc64", "s390x", "riscv64", "loong64", "mips64el"].includes(process.arch);

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
  // mapSize, too, is read at open (a file already larger keeps its size).
  return open({ path: join(dir, "fleetplane.mdb"), maxDbs: 64, ...(is64Bit ? { mapSize: EMBEDDED_STORE_MAP_BYTES } : {}) });
}
