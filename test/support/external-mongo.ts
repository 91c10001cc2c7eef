import { randomBytes } from "node:crypto";
import { MongoClient } from "mongodb";

/**
 * A MongoDB-wire store someone else runs (e.g. FerretDB 2.x on PostgreSQL with
 * DocumentDB, which is too heavy to build for every test run), used by the
 * benchmarks instead of the FerretDB 1.x they start themselves. Each use gets
 * a fresh database on it, so runs never see each other's documents.
 */
export interface ExternalMongoStore {
  /** The store's URL with the fresh database as its path. */
  uri: string;
  /** The fresh database's name. */
  dbName: string;
  /** Drops the fresh database when `removeData`; the store itself keeps running. */
  stop(o?: { removeData?: boolean }): Promise<void>;
}

/** A URL that is not a usable external store (named by the option that carried it). */
export class ExternalMongoUrlError extends Error {
  constructor(
    readonly option: string,
    readonly url: string,
    reason: string,
    cause?: unknown,
  ) {
    super(`${option} ${JSON.stringify(url)}: ${reason}`, { cause });
    this.name = "ExternalMongoUrlError";
  }
}

/**
 * The store's address and options, checked: a mongodb:// (or mongodb+srv://) URL that names no
 * database. The fresh database is what keeps two runs apart, and a named one would be silently
 * replaced.
 */
export function parseStoreUrl(url: string, option = "--mongo-url"): { base: string; query: string } {
  const m = /^(mongodb(?:\+srv)?:\/\/[^/?]+)\/?([^?]*)(\?.*)?$/.exec(url);
  if (!m) throw new ExternalMongoUrlError(option, url, "expected mongodb://host:port/ (or mongodb+srv://)");
  if (m[2]) throw new ExternalMongoUrlError(option, url, `names the database "${m[2]}"; give the store without one (each run makes a fresh database)`);
  return { base: m[1]!, query: m[3] ?? "" };
}

/** `url` with `dbName` as its database, its options kept. */
export function withDatabase(url: string, dbName: string, option = "--mongo-url"): string {
  const { base, query } = parseStoreUrl(url, option);
  return `${base}/${dbName}${query}`;
}

/** Checks that the store answers, and makes the handle of a fresh database on it. */
export async function useExternalMongo(url: string, option = "--mongo-url"): Promise<ExternalMongoStore> {
  const dbName = `fleetplane_bench_${randomBytes(6).toString("hex")}`;
  const uri = withDatabase(url, dbName, option);
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000, connectTimeoutMS: 5_000 });
  try {
    await client.db("admin").command({ ping: 1 });
  } catch (err) {
    throw new ExternalMongoUrlError(option, url, `the store does not answer ping: ${err instanceof Error ? err.message : String(err)}`, err);
  } finally {
    await client.close();
  }
  return {
    uri,
    dbName,
    async stop(o = {}) {
      if (!o.removeData) return;
      const c = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000 });
      try {
        await c.db(dbName).dropDatabase();
      } finally {
        await c.close();
      }
    },
  };
}
