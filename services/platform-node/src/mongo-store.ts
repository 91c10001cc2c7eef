import {
  MongoClient,
  type Binary,
  MongoClientClosedError,
  MongoError,
  MongoErrorLabel,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerClosedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  type Collection,
  type Document,
  type Db,
  type Filter,
  type MongoClientOptions,
} from "mongodb";
import { DependencyUnavailableError, type Logger } from "@fleetplane/platform";

/** An open connection to MongoDB (or a server speaking its wire protocol, such as FerretDB). */
export interface MongoStore {
  client: MongoClient;
  /** The database every repository of this process uses. */
  db: Db;
  /**
   * "ferretdb" when the server is FerretDB (its buildInfo says so), whose
   * 1.x serves a filter on `_id` alone from its key but scans the whole
   * collection for one with a second field; repositories whose hot writes
   * are conditional pick how to check there (createMongoAgentRepository).
   */
  server: MongoServer;
  /** Resolves when the database answers; throws DependencyUnavailableError when it cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type MongoServer = "mongodb" | "ferretdb";

export interface ConnectMongoOptions {
  logger: Logger;
  /** Database to use when the URL names none (its path). Default "fleetplane". */
  dbName?: string;
}

/**
 * Timeouts short enough that a dead database fails a request in seconds
 * (callers then answer `unavailable`) instead of hanging it for the driver's
 * 30 s default. They bound each attempt only: the driver keeps monitoring the
 * server and reconnects by itself once it is back. An option named in the URL
 * wins, so operators can tune these without a code change.
 */
const FAIL_FAST_DEFAULTS = {
  serverSelectionTimeoutMS: 3_000,
  connectTimeoutMS: 3_000,
} satisfies MongoClientOptions;

/**
 * Connections the driver opens to FerretDB at most, unless the URL names
 * maxPoolSize. FerretDB 1.x on SQLite runs each write under the database's
 * one write lock, and a write that waits more than its busy timeout (10 s)
 * fails ("database is locked", SQLITE_BUSY), answered to agents as an
 * internal error. With the driver's 100 connections per process a burst of
 * reports queued there and failed (4-13 per 1,000-agent bench run); with
 * 10 the burst waits in the driver's queue instead, in order, and none
 * failed (issue 12, docs/performance.md §17). MongoDB keeps the driver's default.
 */
const FERRETDB_MAX_POOL_SIZE = 10;

/**
 * Connects and checks that the database answers. Fails (instead of waiting
 * forever) when it cannot be reached at start-up; the error names the URL
 * with its credentials removed.
 */
export async function connectMongo(url: string, o: ConnectMongoOptions): Promise<MongoStore> {
  const where = redactMongoUrl(url);
  const dbName = databaseInMongoUrl(url) ?? o.dbName ?? "fleetplane";
  let { client, db } = await open(url, where, dbName, {});
  const server = await serverOf(db);
  if (server === "ferretdb" && !namedInUrl(url).has("maxpoolsize")) {
    // Known only once connected: connect again with the bounded pool (at start-up, once).
    await client.close();
    ({ client, db } = await open(url, where, dbName, { maxPoolSize: FERRETDB_MAX_POOL_SIZE }));
  }
  logReachability(client, o.logger, where);
  o.logger.info({ mongo: where, db: dbName, server, maxPoolSize: client.options.maxPoolSize }, "connected to MongoDB");
  return {
    client,
    db,
    server,
    async ping() {
      await guardMongo(() => db.command({ ping: 1 }));
    },
    close: () => client.close(),
  };
}

async function open(url: string, where: string, dbName: string, options: MongoClientOptions): Promise<{ client: MongoClient; db: Db }> {
  let client: MongoClient;
  try {
    client = new MongoClient(url, { appName: "fleetplane", ...defaultsNotInUrl(url), ...options });
  } catch (err) {
    throw new Error(`invalid MongoDB URL ${where}: ${errorMessage(err)}; check --mongo-url`, { cause: err });
  }
  const db = client.db(dbName);
  try {
    await client.connect();
    await db.command({ ping: 1 });
  } catch (err) {
    await client.close().catch(() => {});
    throw new Error(
      `cannot reach MongoDB at ${where}: ${errorMessage(err)}; check the URL and that the database is running`,
      { cause: err },
    );
  }
  return { client, db };
}

/** FerretDB adds `ferretdbVersion` to buildInfo; a server that will not say is taken for MongoDB. */
async function serverOf(db: Db): Promise<MongoServer> {
  const info = await db.admin().command({ buildInfo: 1 }).catch(() => ({}));
  return "ferretdbVersion" in info ? "ferretdb" : "mongodb";
}

/**
 * Runs a database operation; when MongoDB cannot be reached, rethrows the
 * driver's error as DependencyUnavailableError so callers answer
 * `unavailable` (retry later) rather than `internal`.
 */
export async function guardMongo<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (mongoUnavailable(err)) throw new DependencyUnavailableError("MongoDB", { cause: err });
    throw err;
  }
}

/** Driver errors that mean "the database cannot serve right now" (network, selection, shutdown, closed pool). */
const UNAVAILABLE_ERROR_CLASSES = [
  MongoNetworkError, // includes timeouts and "connection pool cleared"
  MongoServerSelectionError,
  MongoNotConnectedError,
  MongoTopologyClosedError,
  MongoClientClosedError,
  MongoServerClosedError,
  MongoOperationTimeoutError,
];

/**
 * Server error codes that mean this node cannot serve now but a node (or this
 * one, later) will: the set the driver itself treats as retryable.
 */
const UNAVAILABLE_SERVER_CODES = new Set([
  // InternalError: how FerretDB reports every failure of its backend, e.g.
  // SQLite's "database is locked" (SQLITE_BUSY) when a write waited past its
  // busy timeout under load (docs/performance.md §17) or PostgreSQL gone.
  // The request may well succeed later, so the agent is told to retry
  // (UNAVAILABLE with a delay) rather than given an error it cannot act on.
  1,
  6, // HostUnreachable
  7, // HostNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

export function mongoUnavailable(err: unknown): boolean {
  if (UNAVAILABLE_ERROR_CLASSES.some((cls) => err instanceof cls)) return true;
  // Not exported by the driver: thrown when every pooled connection stays busy.
  if (err instanceof Error && err.name === "MongoWaitQueueTimeoutError") return true;
  // The server's own word that trying again may work (e.g. a write interrupted by an election).
  if (err instanceof MongoError && (err.hasErrorLabel(MongoErrorLabel.RetryableWriteError) || err.hasErrorLabel(MongoErrorLabel.TransientTransactionError))) return true;
  return err instanceof MongoServerError && typeof err.code === "number" && UNAVAILABLE_SERVER_CODES.has(err.code);
}

/** The URL with user info and password-like query values masked, fit for logs and error messages. */
export function redactMongoUrl(url: string): string {
  const schemeEnd = url.indexOf("://");
  if (schemeEnd < 0) return "<unparseable URL>";
  const authorityStart = schemeEnd + 3;
  const queryStart = url.indexOf("?", authorityStart);
  const authorityEnd = queryStart < 0 ? url.length : queryStart;
  // The last "@" before the query ends the credentials, even when a password
  // contains an unescaped "/" or "@".
  const at = url.lastIndexOf("@", authorityEnd);
  const head = at >= authorityStart ? `${url.slice(0, authorityStart)}***@${url.slice(at + 1, authorityEnd)}` : url.slice(0, authorityEnd);
  const query = url.slice(authorityEnd).replace(/([?&][^=&]*(?:password|secret|token)[^=&]*=)[^&]*/gi, "$1***");
  return head + query;
}

/** The database named by the URL's path ("mongodb://host/fleetplane" → "fleetplane"), if any. */
export function databaseInMongoUrl(url: string): string | undefined {
  const path = /^mongodb(?:\+srv)?:\/\/[^/?]*\/([^?]*)/.exec(url)?.[1];
  return path ? decodeURIComponent(path) : undefined;
}

/**
 * The content of a BSON binary as a plain Uint8Array view (no copy). The
 * driver hands out Node Buffers; protobuf bytes fields decoded from a Buffer
 * would be Buffers too, unlike those of messages built in code.
 */
export function bytesOfBinary(binary: Binary): Uint8Array {
  const bytes = binary.value();
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function defaultsNotInUrl(url: string): MongoClientOptions {
  const named = namedInUrl(url);
  return Object.fromEntries(Object.entries(FAIL_FAST_DEFAULTS).filter(([key]) => !named.has(key.toLowerCase())));
}

/** The options a MongoDB URL names, lower-cased. */
function namedInUrl(url: string): Set<string> {
  const query = url.split("?")[1] ?? "";
  return new Set(query.split("&").map((pair) => pair.split("=")[0]!.toLowerCase()));
}

/**
 * Logs once when a server stops answering the driver's heartbeats and once
 * when it answers again, so an outage shows up in the log as two lines, not
 * one line per heartbeat or per failed request.
 */
function logReachability(client: MongoClient, logger: Logger, where: string): void {
  const down = new Set<string>();
  client.on("serverHeartbeatFailed", (event) => {
    if (down.has(event.connectionId)) return;
    down.add(event.connectionId);
    logger.warn({ mongo: where, server: event.connectionId, err: event.failure }, "MongoDB server unreachable; requests answer unavailable until it is back");
  });
  client.on("serverHeartbeatSucceeded", (event) => {
    if (down.delete(event.connectionId)) logger.info({ mongo: where, server: event.connectionId }, "MongoDB server reachable again");
  });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs an upsert, once more if it lost an insert race. Two upserts of one new
 * _id can both try to insert; MongoDB retries that itself, FerretDB 1.x
 * answers E11000 instead. On the second try the document exists, so the
 * upsert updates it.
 */
export async function upsertWithRetry<T>(upsert: () => Promise<T>): Promise<T> {
  try {
    return await upsert();
  } catch (err) {
    if (isDuplicateKey(err)) return upsert();
    throw err;
  }
}

/** One index of a collection: its name, its keys, and the documents it holds when not all. */
export interface NamedIndex<T extends Document = Document> {
  name: string;
  key: Record<string, 1 | -1>;
  /** Only the documents matching this are in the index (MongoDB, FerretDB 2); FerretDB 1.x holds them all. */
  partialFilterExpression?: Filter<T>;
}

/**
 * Creates `indexes` by name; one that exists is left as it is. One index
 * per call: FerretDB 1.24 drops the connection (a server-side panic) when
 * one createIndexes call names several indexes that exist. FerretDB 1.x
 * (`server`) refuses partialFilterExpression ("not implemented yet"):
 * there a partial index holds every document.
 */
export async function createNamedIndexes<T extends Document>(collection: Collection<T>, indexes: readonly NamedIndex<T>[], server: MongoServer): Promise<void> {
  for (const index of indexes) {
    const partial = index.partialFilterExpression && server !== "ferretdb" ? { partialFilterExpression: index.partialFilterExpression } : {};
    await collection.createIndex(index.key, { name: index.name, ...partial });
  }
}

/**
 * Drops those of `names` the collection has: indexes an earlier version
 * made and a new one replaces, at every replica's start. A collection not
 * made yet has none; one already gone (another replica dropped it first)
 * is not an error.
 */
export async function dropIndexesIfPresent<T extends Document>(collection: Collection<T>, names: readonly string[]): Promise<void> {
  const existing = await collection.listIndexes().toArray().catch((err: unknown) => {
    if (isNamespaceNotFound(err)) return [];
    throw err;
  });
  const present = new Set(existing.map((i) => i.name as string));
  for (const name of names) {
    if (!present.has(name)) continue;
    await collection.dropIndex(name).catch((err: unknown) => {
      if (!isIndexNotFound(err)) throw err;
    });
  }
}

/** Whether a write failed because a document with its unique key exists (E11000). */
export function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === 11000;
}

/** Whether a command failed because its collection does not exist yet (NamespaceNotFound, 26): e.g. listIndexes on a new database. */
export function isNamespaceNotFound(err: unknown): boolean {
  return hasServerCode(err, 26, "NamespaceNotFound");
}

/** Whether dropping an index failed because it is not there (IndexNotFound, 27): e.g. another replica dropped it first. */
export function isIndexNotFound(err: unknown): boolean {
  return hasServerCode(err, 27, "IndexNotFound");
}

/** The server's error code or its name (either may be all a server like FerretDB sets). */
function hasServerCode(err: unknown, code: number, codeName: string): boolean {
  return (err as { code?: unknown }).code === code || (err as { codeName?: unknown }).codeName === codeName;
}
