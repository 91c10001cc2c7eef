// Every store adapter (the embedded LMDB store and MongoDB) passes the same
// contract suites. MongoDB is exercised against a real FerretDB 1.x on
// loopback, including what happens while the database is down.
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { CommandRecordSchema, CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { AgentSchema, ConfigSource, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { CertificateRequestSchema, CertificateRequestState } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { PackageSchema } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { ComponentHealthSchema, PackageType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import {
  createLmdbAgentRepository,
  createLmdbConnectionRepository,
  createLmdbGatewayLeaseRepository,
  createLmdbCertificateRequestRepository,
  createLmdbPackageRepository,
  createLmdbNamespaceRepository,
  createLmdbConfigurationRepository,
  createLmdbGroupRepository,
  createLmdbRolloutRepository,
  createLmdbRolloutLeaseRepository,
  RevisionConflictError,
} from "@fleetplane/agent-service";
import {
  createMongoAgentRepository,
  createMongoConnectionRepository,
  createMongoGatewayLeaseRepository,
  ensureAgentIndexes,
  AGENT_INDEXES,
  AGENT_INDEX,
  REPLACED_AGENT_INDEXES,
  createAgentIndexWriter,
  createMongoCertificateRequestRepository,
  ensureCertificateRequestIndexes,
  createMongoPackageRepository,
  ensurePackageIndexes,
  createMongoNamespaceRepository,
  createMongoConfigurationRepository,
  createMongoGroupRepository,
  ensureFleetIndexes,
  createMongoRolloutRepository,
  createMongoRolloutLeaseRepository,
  ensureRolloutIndexes,
} from "@fleetplane/agent-service/mongo";
import { createLmdbCommandRepository } from "@fleetplane/command-service";
import { COMMAND_INDEXES, REPLACED_COMMAND_INDEXES, createMongoCommandRepository, ensureCommandIndexes } from "@fleetplane/command-service/mongo";
import { DependencyUnavailableError, instanceUidToHex, silentLogger, uuidv7Bytes, type Logger } from "@fleetplane/platform";
import { openEmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { connectMongo, createNamedIndexes, type MongoStore, type NamedIndex } from "@fleetplane/platform-node/mongo";
import { Binary, Double, Int32, Long, MongoNetworkError, type Db, type FindCursor } from "mongodb";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { agentRepositoryContract } from "./contract/agent-repository.contract.js";
import { certificateRequestRepositoryContract } from "./contract/certificate-request-repository.contract.js";
import { commandRepositoryContract } from "./contract/command-repository.contract.js";
import { packageRepositoryContract } from "./contract/package-repository.contract.js";
import { fleetRepositoryContract } from "./contract/fleet-repository.contract.js";
import { rolloutRepositoryContract } from "./contract/rollout-repository.contract.js";
import { accessRepositoryContract } from "./contract/access-repository.contract.js";
import { createLmdbAccessRepository } from "@fleetplane/access";
import { createMongoAccessRepository, ensureAccessIndexes } from "@fleetplane/access/mongo";
import { eventually } from "./support/eventually.js";
import { startFerretDb, type RunningFerretDb } from "./support/ferretdb.js";
import { freePort } from "./support/free-port.js";
import { useExternalMongo } from "./support/external-mongo.js";
import { indexesInPlan } from "./support/index-plans.js";

/** A fresh embedded store in its own temporary directory, removed on close. */
function openTemporaryLmdb() {
  const dir = mkdtempSync(join(tmpdir(), "fleetplane-lmdb-contract-"));
  const store = openEmbeddedStore(dir);
  return {
    store,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

agentRepositoryContract("LMDB", async () => {
  const { store, close } = openTemporaryLmdb();
  return {
    agents: createLmdbAgentRepository(store),
    connections: createLmdbConnectionRepository(store),
    leases: createLmdbGatewayLeaseRepository(store),
    close,
  };
});

commandRepositoryContract("LMDB", async () => {
  const { store, close } = openTemporaryLmdb();
  return { commands: createLmdbCommandRepository(store), close };
});

certificateRequestRepositoryContract("LMDB", async () => {
  const { store, close } = openTemporaryLmdb();
  return { requests: createLmdbCertificateRequestRepository(store), close };
});

packageRepositoryContract("LMDB", async () => {
  const { store, close } = openTemporaryLmdb();
  return { packages: createLmdbPackageRepository(store), close };
});

fleetRepositoryContract("LMDB", async () => {
  const { store, close } = openTemporaryLmdb();
  return {
    namespaces: createLmdbNamespaceRepository(store),
    configurations: createLmdbConfigurationRepository(store),
    groups: createLmdbGroupRepository(store),
    agents: createLmdbAgentRepository(store),
    commands: createLmdbCommandRepository(store),
    close,
  };
});

rolloutRepositoryContract("LMDB", async () => {
  const { store, close } = openTemporaryLmdb();
  return { rollouts: createLmdbRolloutRepository(store), leases: createLmdbRolloutLeaseRepository(store), agents: createLmdbAgentRepository(store), close };
});

accessRepositoryContract("LMDB", async () => {
  const { store, close } = openTemporaryLmdb();
  return { access: createLmdbAccessRepository(store), close };
});

// One FerretDB for the whole file; each test gets a database of its own.
let ferret: RunningFerretDb;
beforeAll(async () => {
  ferret = await startFerretDb();
});
afterAll(async () => {
  await ferret?.stop({ removeData: true });
});

let databases = 0;
/** Connects as production does (connectMongo + indexes), to a database no other test has used. */
async function connectFreshMongo(): Promise<MongoStore> {
  databases += 1;
  return connectMongo(ferret.uri, { logger: silentLogger(), dbName: `contract_${process.pid}_${databases}` });
}

// As production runs it on this server (connectMongo says FerretDB: the revision checked by a look-up by _id) …
agentRepositoryContract("MongoDB (FerretDB)", async () => {
  const mongo = await connectFreshMongo();
  await ensureAgentIndexes(mongo.db, { server: mongo.server });
  return {
    agents: createMongoAgentRepository(mongo.db, { server: mongo.server }),
    connections: createMongoConnectionRepository(mongo.db),
    leases: createMongoGatewayLeaseRepository(mongo.db),
    close: () => mongo.close(),
  };
});

// … and as it runs on MongoDB (the one conditional write), on the same server.
agentRepositoryContract("MongoDB (FerretDB), as on MongoDB", async () => {
  const mongo = await connectFreshMongo();
  await ensureAgentIndexes(mongo.db, { server: mongo.server });
  return {
    agents: createMongoAgentRepository(mongo.db, { server: "mongodb" }),
    connections: createMongoConnectionRepository(mongo.db),
    leases: createMongoGatewayLeaseRepository(mongo.db),
    close: () => mongo.close(),
  };
}, { largeUpdateBatches: false });

// As production runs it on this server (connectMongo says FerretDB: a state change is a look-up and a write by _id) …
commandRepositoryContract("MongoDB (FerretDB)", async () => {
  const mongo = await connectFreshMongo();
  await ensureCommandIndexes(mongo.db, { server: mongo.server });
  return { commands: createMongoCommandRepository(mongo.db, { server: mongo.server }), close: () => mongo.close() };
});

// … and as it runs on MongoDB (one conditional write), on the same server.
commandRepositoryContract("MongoDB (FerretDB), as on MongoDB", async () => {
  const mongo = await connectFreshMongo();
  await ensureCommandIndexes(mongo.db, { server: mongo.server });
  return { commands: createMongoCommandRepository(mongo.db, { server: "mongodb" }), close: () => mongo.close() };
}, { largeUpdateBatches: false });

certificateRequestRepositoryContract("MongoDB (FerretDB)", async () => {
  const mongo = await connectFreshMongo();
  await ensureCertificateRequestIndexes(mongo.db);
  return { requests: createMongoCertificateRequestRepository(mongo.db), close: () => mongo.close() };
});

packageRepositoryContract("MongoDB (FerretDB)", async () => {
  const mongo = await connectFreshMongo();
  await ensurePackageIndexes(mongo.db);
  return { packages: createMongoPackageRepository(mongo.db), close: () => mongo.close() };
});

fleetRepositoryContract("MongoDB (FerretDB)", async () => {
  const mongo = await connectFreshMongo();
  await ensureFleetIndexes(mongo.db);
  await ensureAgentIndexes(mongo.db, { server: mongo.server });
  await ensureCommandIndexes(mongo.db, { server: mongo.server });
  return {
    namespaces: createMongoNamespaceRepository(mongo.db),
    configurations: createMongoConfigurationRepository(mongo.db),
    groups: createMongoGroupRepository(mongo.db),
    agents: createMongoAgentRepository(mongo.db, { server: mongo.server }),
    commands: createMongoCommandRepository(mongo.db),
    close: () => mongo.close(),
  };
});

rolloutRepositoryContract("MongoDB (FerretDB)", async () => {
  const mongo = await connectFreshMongo();
  await ensureRolloutIndexes(mongo.db);
  await ensureAgentIndexes(mongo.db, { server: mongo.server });
  return {
    rollouts: createMongoRolloutRepository(mongo.db),
    leases: createMongoRolloutLeaseRepository(mongo.db),
    agents: createMongoAgentRepository(mongo.db, { server: mongo.server }),
    close: () => mongo.close(),
  };
});

accessRepositoryContract("MongoDB (FerretDB)", async () => {
  const mongo = await connectFreshMongo();
  await ensureAccessIndexes(mongo.db);
  return { access: createMongoAccessRepository(mongo.db), close: () => mongo.close() };
});

describe("MongoDB indexes", () => {
  it("are created again without error, as every restart of a service does", async () => {
    const mongo = await connectFreshMongo();
    try {
      for (let start = 0; start < 2; start++) {
        await ensureAgentIndexes(mongo.db, { server: mongo.server });
        await ensureCommandIndexes(mongo.db, { server: mongo.server });
        await ensureCertificateRequestIndexes(mongo.db);
        await ensurePackageIndexes(mongo.db);
        await ensureFleetIndexes(mongo.db);
      }
      const names = async (collection: string) => (await mongo.db.collection(collection).listIndexes().toArray()).map((i) => i.name as string).sort();
      // The agents' indexes are on their index documents; the agent documents have `_id`'s alone (none while there is no agent).
      expect(await names(AGENT_INDEX)).toEqual(["_id_", "attrs_1", "disconnected_agents", "gatewayId_1", "labelled_agents", "namespace_1__id_1", "rolloutGroup_1_namespace_1__id_1"]);
      expect((await names("agents").catch(() => [])).filter((name) => name !== "_id_")).toEqual([]);
      expect(await names("commands")).toEqual(["_id_", "instanceUid_1__id_-1", "namespace_1__id_-1", "pending_commands"]);
      expect(await names("certificate_requests")).toEqual(["_id_", "instanceUid_1_state_1", "namespace_1_instanceUid_1__id_-1", "namespace_1_state_1__id_-1"]);
      expect(await names("packages")).toEqual(["_id_", "namespace_1_name_1_version_1"]);
      expect(await names("configurations")).toEqual(["_id_", "namespace_1_name_1"]);
      expect(await names("configuration_versions")).toEqual(["_id_", "generation_1_version_-1"]);
      expect(await names("groups")).toEqual(["_id_", "namespace_1_name_1"]);
    } finally {
      await mongo.close();
    }
  });
});

describe("MongoDB agents stored by an earlier version (the indexes on the agent documents)", () => {
  it("get index documents at start, their indexes dropped from the agent documents, and are read, listed and saved as before", async () => {
    const mongo = await connectFreshMongo();
    try {
      const agents = createMongoAgentRepository(mongo.db, { server: mongo.server });
      const uid = (a: Agent) => instanceUidToHex(a.metadata!.instanceUid);
      const attribute = (key: string, value: string) => ({ key, value: { value: { case: "stringValue" as const, value } } });
      const off = create(AgentSchema, { metadata: { instanceUid: uuidv7Bytes(), labels: { team: "payments" } }, status: { connected: false, disconnectedAt: timestampFromMs(1_000) } });
      const on = create(AgentSchema, {
        metadata: { instanceUid: uuidv7Bytes(), description: { identifyingAttributes: [attribute("service.name", "otelcol")] } },
        status: { connected: true, gatewayId: "gw-a" },
        spec: { assignment: { source: ConfigSource.GROUP, group: "g", configuration: "c", version: 1 } },
      });
      await agents.save(off);
      await agents.save(on);
      // The database as the versions before §45 left it: the agent documents as they are, no index documents,
      // the indexes on the agent documents (main's of §42, and one of the version before it).
      await mongo.db.collection(AGENT_INDEX).drop();
      const collection = mongo.db.collection("agents");
      // (The agent documents then held the indexed fields themselves: the same indexes, on them.)
      await createNamedIndexes(collection, AGENT_INDEXES as readonly NamedIndex[], mongo.server);
      await collection.createIndex({ connected: 1, _id: 1 });

      // Two replicas starting at the same time.
      await Promise.all([ensureAgentIndexes(mongo.db, { server: mongo.server }), ensureAgentIndexes(mongo.db, { server: mongo.server })]);
      expect((await collection.listIndexes().toArray()).map((i) => i.name as string)).toEqual(["_id_"]);
      expect((await mongo.db.collection(AGENT_INDEX).listIndexes().toArray()).map((i) => i.name as string).sort()).toEqual(["_id_", ...AGENT_INDEXES.map((i) => i.name)].sort());
      // A replica starting later finds nothing to move.
      await ensureAgentIndexes(mongo.db, { server: mongo.server });

      const restarted = createMongoAgentRepository(mongo.db, { server: mongo.server });
      expect(await restarted.get(uid(on))).toEqual(on);
      expect((await restarted.list({ limit: 10, connected: false })).map(uid)).toEqual([uid(off)]);
      expect((await restarted.list({ limit: 10, connected: true })).map(uid)).toEqual([uid(on)]);
      expect((await restarted.list({ limit: 10, labels: { team: "payments" } })).map(uid)).toEqual([uid(off)]);
      expect((await restarted.list({ limit: 10, attributes: { "service.name": "otelcol" } })).map(uid)).toEqual([uid(on)]);
      expect((await restarted.list({ limit: 10, gatewayId: "gw-a" })).map(uid)).toEqual([uid(on)]);
      expect((await restarted.listDisconnected({ before: 2_000, limit: 10 })).map(uid)).toEqual([uid(off)]);
      expect(await restarted.listGroupTargets("default", "g", { limit: 10 })).toEqual([{ uid: uid(on), version: 1, rollout: "" }]);
      expect(await restarted.listRevisions({ namespace: "default", limit: 10 })).toEqual([uid(off), uid(on)].sort().map((u) => ({ uid: u, revision: 1n })));
      const moved = (await restarted.get(uid(on)))!;
      moved.status!.connected = false;
      moved.status!.disconnectedAt = timestampFromMs(1_500);
      await restarted.save(moved);
      expect(moved.revision).toBe(2n);
      expect((await restarted.listDisconnected({ before: 2_000, limit: 10 })).map(uid)).toEqual([uid(off), uid(on)]);
      expect(await restarted.list({ limit: 10, gatewayId: "gw-a", connected: true })).toEqual([]);
    } finally {
      await mongo.close();
    }
  });
});

describe("MongoDB command indexes made by an earlier version", () => {
  it("state_1 is dropped for pending_commands, and the pending count still answers", async () => {
    const mongo = await connectFreshMongo();
    try {
      const commands = createMongoCommandRepository(mongo.db, { server: mongo.server });
      const at = (state: CommandState, sequence: number) =>
        create(CommandRecordSchema, { id: instanceUidToHex(uuidv7Bytes(1_767_225_600_000 + sequence)), instanceUid: "cd".repeat(16), kind: "restart", state });
      await commands.insertNewMany([at(CommandState.PENDING, 1), at(CommandState.APPLIED, 2), at(CommandState.PENDING, 3)]);
      // The commands collection as the version before pending_commands left it.
      const collection = mongo.db.collection("commands");
      await collection.createIndex({ state: 1 });
      expect((await collection.listIndexes().toArray()).map((i) => i.name as string)).toEqual(expect.arrayContaining([...REPLACED_COMMAND_INDEXES]));

      await ensureCommandIndexes(mongo.db, { server: mongo.server });
      const names = (await collection.listIndexes().toArray()).map((i) => i.name as string);
      for (const name of REPLACED_COMMAND_INDEXES) expect(names).not.toContain(name);
      for (const index of COMMAND_INDEXES) expect(names).toContain(index.name);
      // Another replica starting at the same time finds it gone already.
      await ensureCommandIndexes(mongo.db, { server: mongo.server });
      expect(await commands.countPending()).toBe(2);
    } finally {
      await mongo.close();
    }
  });
});

/** The agent's index document as stored (mongo-agent-index.ts). */
async function indexDocumentOf(mongo: MongoStore, agent: Agent) {
  return mongo.db.collection<{ _id: string; revision: bigint; connected: boolean; gatewayId: string }>(AGENT_INDEX, { useBigInt64: true }).findOne({ _id: instanceUidToHex(agent.metadata!.instanceUid) });
}

/** An index document as the spec writes one by hand (any fields, as a crash or an earlier version left it). */
type IndexDocumentAsStored = { _id: string } & Record<string, unknown>;

/** `db` with one method of one collection run through `through` (given the collection's own, bound). */
function intercepting(db: Db, name: string, method: string, through: (own: (...args: unknown[]) => Promise<unknown>, ...args: unknown[]) => Promise<unknown>): Db {
  return new Proxy(db, {
    get: (target, prop, receiver) =>
      prop === "collection"
        ? (collection: string, options?: object) => {
            const live = target.collection(collection, options);
            if (collection !== name) return live;
            const own = (Reflect.get(live, method) as (...args: unknown[]) => Promise<unknown>).bind(live);
            return new Proxy(live, { get: (c, p) => (p === method ? (...args: unknown[]) => through(own, ...args) : Reflect.get(c, p, c)) });
          }
        : Reflect.get(target, prop, receiver),
  });
}

/**
 * `db` with its agents' index documents' deleteMany watched: the number of uids each names, and `before`
 * run (once) before the first goes to the store — a start pass's delete, at the moment between its read
 * and its write.
 */
function watchIndexDeletes(db: Db, before?: () => Promise<void>) {
  const deletes: number[] = [];
  let hook = before;
  const watched = intercepting(db, AGENT_INDEX, "deleteMany", async (own, filter, ...rest) => {
    deletes.push((filter as { $or: Array<{ _id: { $in: string[] } }> }).$or.reduce((n, branch) => n + branch._id.$in.length, 0));
    const run = hook;
    hook = undefined;
    await run?.();
    return own(filter, ...rest);
  });
  return { db: watched, deletes };
}

/**
 * `db` with `before` run before each write of the agents' index documents goes out: the whole write on MongoDB
 * (its bulkWrite); on FerretDB 1.x before the look-up it decides by (writeByIdAfterLookup: a find by `_id` `$in`).
 */
function beforeIndexWrite(db: Db, server: "ferretdb" | "mongodb", before: () => Promise<void>): Db {
  if (server === "mongodb") return intercepting(db, AGENT_INDEX, "bulkWrite", async (own, ...args) => (await before(), own(...args)));
  return intercepting(db, AGENT_INDEX, "find", ((own: (...a: unknown[]) => FindCursor, ...args: unknown[]) => {
    const cursor = own(...args);
    const filter = args[0] as { _id?: { $in?: unknown } };
    if (filter._id?.$in === undefined) return cursor;
    return new Proxy(cursor, { get: (c, p) => (p === "toArray" ? async () => (await before(), c.toArray()) : Reflect.get(c, p, c)) });
  }) as never);
}

/**
 * `db` whose start pass (ensureAgentIndexes) reads the agents' index documents as MongoDB's cursor may: on
 * live, here one document a read (FerretDB's cursor reads a snapshot). `before` runs before each read, told
 * how many came before it.
 */
function liveIndexCursor(db: Db, before: (reads: number) => Promise<void>): Db {
  return intercepting(db, AGENT_INDEX, "find", ((own: (...a: unknown[]) => FindCursor, ...args: unknown[]) => {
    const [filter, options] = args as [Record<string, unknown>, object | undefined];
    if (Object.keys(filter).length > 0) return own(...args);
    let last: string | undefined;
    let reads = 0;
    const live = {
      sort: () => live,
      close: async () => {},
      [Symbol.asyncIterator]: () => ({
        async next() {
          await before(reads++);
          const [doc] = await (own(last === undefined ? {} : { _id: { $gt: last } }, options) as FindCursor<{ _id: string }>).sort({ _id: 1 }).limit(1).toArray();
          if (!doc) return { done: true, value: undefined };
          last = doc._id;
          return { done: false, value: doc };
        },
      }),
    };
    return live;
  }) as never);
}

/**
 * An agent (created at 1,000; revision 1, on gw-a) whose first index write was lost (a crash after its agent
 * document), under the index document an earlier agent of its uid (created at 500) left at `revision`.
 */
async function agentOverLeftover(mongo: MongoStore, repository: ReturnType<typeof createMongoAgentRepository>, uid: Uint8Array, revision: bigint): Promise<Agent> {
  const agent = create(AgentSchema, { metadata: { instanceUid: uid, createdAt: timestampFromMs(1_000) }, status: { connected: true, gatewayId: "gw-a" } });
  await repository.save(agent);
  const index = mongo.db.collection<IndexDocumentAsStored>(AGENT_INDEX, { useBigInt64: true });
  await index.replaceOne({ _id: instanceUidToHex(uid) }, { revision, connected: true, gatewayId: "gw-gone", attrs: [], createdAt: 500 });
  return agent;
}

/** A logger that keeps its info lines. */
function capturingLogger() {
  const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const logger = { ...silentLogger(), info: (fields: Record<string, unknown>, msg: string) => void lines.push({ msg, fields }) } as Logger;
  return { logger, lines };
}

describe("MongoDB agent index documents", () => {
  it("are written when an indexed field changes, not for a rollout's pin or an agent's report", async () => {
    const mongo = await connectFreshMongo();
    try {
      const agents = createMongoAgentRepository(mongo.db, { server: mongo.server });
      const agent = create(AgentSchema, {
        metadata: { instanceUid: uuidv7Bytes() },
        status: { connected: true, gatewayId: "gw-a" },
        spec: { assignment: { source: ConfigSource.GROUP, group: "g", configuration: "c", version: 1 } },
      });
      await agents.save(agent);
      expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 1n, connected: true, gatewayId: "gw-a" });
      // The pin: the assignment's version and rollout (copied, not indexed).
      agent.spec!.assignment!.version = 2;
      agent.spec!.assignment!.rollout = "r1";
      expect(await agents.saveMany([agent])).toEqual([true]);
      // The report: the config's state and the agent's health (copied, not indexed).
      agent.status!.health = create(ComponentHealthSchema, { healthy: true });
      agent.status!.sequenceNum = 7n;
      await agents.save(agent);
      expect(agent.revision).toBe(3n);
      expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 1n });
      expect(await agents.listGroupTargets("default", "g", { limit: 10 })).toEqual([{ uid: instanceUidToHex(agent.metadata!.instanceUid), version: 2, rollout: "r1" }]);
      // A disconnection changes indexed fields.
      agent.status!.connected = false;
      agent.status!.disconnectedAt = timestampFromMs(1_000);
      await agents.save(agent);
      expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 4n, connected: false });
    } finally {
      await mongo.close();
    }
  });

  it("left behind by a crash between a save's two writes return no agent wrongly, and the agent's next save (a new process) or the next start writes it again", async () => {
    const mongo = await connectFreshMongo();
    try {
      const uid = (a: Agent) => instanceUidToHex(a.metadata!.instanceUid);
      const before = createMongoAgentRepository(mongo.db, { server: mongo.server });
      const agent = create(AgentSchema, { metadata: { instanceUid: uuidv7Bytes() }, status: { connected: false, gatewayId: "gw-a", disconnectedAt: timestampFromMs(1_000) } });
      await before.save(agent);
      agent.status!.connected = true;
      agent.status!.gatewayId = "gw-b";
      agent.status!.disconnectedAt = undefined;
      await before.save(agent);
      // The process died after the second save's agent document, before its index document.
      await mongo.db.collection<{ _id: string }>(AGENT_INDEX).updateOne({ _id: uid(agent) }, { $set: { connected: false, gatewayId: "gw-a", disconnectedAt: 1_000, revision: 1n } });

      const after = createMongoAgentRepository(mongo.db, { server: mongo.server });
      // What the stale index document finds, the agent's own document turns down …
      expect(await after.list({ limit: 10, connected: false })).toEqual([]);
      expect(await after.list({ limit: 10, gatewayId: "gw-a" })).toEqual([]);
      expect(await after.listDisconnected({ before: 2_000, limit: 10 })).toEqual([]);
      // … what it misses stays missed until the agent is saved again; the agent itself reads as saved.
      expect(await after.list({ limit: 10, gatewayId: "gw-b" })).toEqual([]);
      expect(await after.get(uid(agent))).toEqual(agent);
      const reported = (await after.get(uid(agent)))!;
      reported.status!.health = create(ComponentHealthSchema, { healthy: true });
      await after.save(reported);
      expect((await after.list({ limit: 10, gatewayId: "gw-b" })).map(uid)).toEqual([uid(agent)]);
      expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 3n, connected: true, gatewayId: "gw-b" });

      // Left behind again (say the agent's disconnection, its last save for a while): a replica's start writes it.
      reported.status!.connected = false;
      reported.status!.disconnectedAt = timestampFromMs(1_500);
      await after.save(reported);
      await mongo.db.collection<{ _id: string }>(AGENT_INDEX).updateOne({ _id: uid(agent) }, { $set: { connected: true, gatewayId: "gw-b", disconnectedAt: null, revision: 3n } });
      expect(await after.listDisconnected({ before: 2_000, limit: 10 })).toEqual([]);
      await ensureAgentIndexes(mongo.db, { server: mongo.server });
      expect((await after.listDisconnected({ before: 2_000, limit: 10 })).map(uid)).toEqual([uid(agent)]);
      expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 4n, connected: false });
    } finally {
      await mongo.close();
    }
  });

  it("left by a deleted agent (a crash between a delete's two writes) are replaced by the next agent of that uid, at its first save or the next start", async () => {
    const mongo = await connectFreshMongo();
    try {
      const uid = (a: Agent) => instanceUidToHex(a.metadata!.instanceUid);
      const agents = createMongoAgentRepository(mongo.db, { server: mongo.server });
      const agent = create(AgentSchema, { metadata: { instanceUid: uuidv7Bytes() }, status: { connected: true, gatewayId: "gw-a" } });
      await agents.save(agent);
      agent.status!.gatewayId = "gw-old";
      await agents.save(agent);
      await agents.save(agent);
      // The process died after the delete's first write (the agent's document), before its index document's.
      await mongo.db.collection<{ _id: string }>("agents").deleteOne({ _id: uid(agent) });
      // (Written at the second save, the third changed no indexed field.)
      expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 2n, gatewayId: "gw-old" });
      expect(await agents.list({ limit: 10, gatewayId: "gw-old" })).toEqual([]);

      const back = create(AgentSchema, { metadata: { instanceUid: agent.metadata!.instanceUid }, status: { connected: true, gatewayId: "gw-b" } });
      const restarted = createMongoAgentRepository(mongo.db, { server: mongo.server });
      await restarted.save(back);
      expect((await restarted.list({ limit: 10, gatewayId: "gw-b" })).map(uid)).toEqual([uid(agent)]);
      expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 1n, gatewayId: "gw-b" });

      // The same left behind where the new agent's first index write is lost too: the next start replaces it.
      await mongo.db.collection<{ _id: string }>(AGENT_INDEX).updateOne({ _id: uid(agent) }, { $set: { gatewayId: "gw-old", revision: 3n } });
      await ensureAgentIndexes(mongo.db, { server: mongo.server });
      expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 1n, gatewayId: "gw-b" });
    } finally {
      await mongo.close();
    }
  });

  it("whose write fails (the store away) do not fail the save: the agent is stored, and its index document is repaired from it once the store answers; nor a delete, whose index document is removed then", async () => {
    const mongo = await connectFreshMongo();
    // The index documents' collection, seen through a client that is closed while `away`: its reads and writes fail, the agents' do not.
    const gone = await connectMongo(ferret.uri, { logger: silentLogger(), dbName: mongo.db.databaseName });
    await gone.close();
    let away = true;
    const db = new Proxy(mongo.db, {
      get: (target, prop, receiver) =>
        prop === "collection"
          ? (name: string, options?: object) => {
              const live = target.collection(name, options);
              if (name !== AGENT_INDEX) return live;
              const dead = gone.db.collection(name, options);
              return new Proxy(live, { get: (c, p) => Reflect.get(away ? dead : c, p, away ? dead : c) });
            }
          : Reflect.get(target, prop, receiver),
    });
    try {
      const agents = createMongoAgentRepository(db, { server: mongo.server, indexRepairDelayMs: 20 });
      const agent = create(AgentSchema, { metadata: { instanceUid: uuidv7Bytes() }, status: { connected: true, gatewayId: "gw-a" } });
      await agents.save(agent);
      agent.status!.gatewayId = "gw-b";
      expect(await agents.saveMany([agent])).toEqual([true]);
      expect(agent.revision).toBe(2n);
      expect(await agents.get(instanceUidToHex(agent.metadata!.instanceUid))).toEqual(agent);
      expect(await indexDocumentOf(mongo, agent)).toBeNull();
      // The store answers again: the index document is written from the agent's document as it is now.
      away = false;
      expect(await eventually(() => indexDocumentOf(mongo, agent), 10_000, "the index document repaired")).toMatchObject({ revision: 2n, gatewayId: "gw-b" });
      expect((await agents.list({ limit: 10, gatewayId: "gw-b" })).map((a) => a.revision)).toEqual([2n]);
      // A delete with the index documents away again: done (the agent is gone), its index document left behind
      // (found by no query) and removed once the store answers.
      away = true;
      await agents.delete(agent);
      expect(await agents.get(instanceUidToHex(agent.metadata!.instanceUid))).toBeUndefined();
      away = false;
      expect(await agents.list({ limit: 10, gatewayId: "gw-b" })).toEqual([]);
      await eventually(async () => (await indexDocumentOf(mongo, agent)) === null, 10_000, "the deleted agent's index document removed");
    } finally {
      await mongo.close();
    }
  });

  it("of an agent whose delete landed but was answered with the store away are removed once it answers", async () => {
    const mongo = await connectFreshMongo();
    // The agents' deleteOne reaches the store, and its answer is lost (the connection reset on the way back).
    const db = intercepting(mongo.db, "agents", "deleteOne", async (own, ...args) => {
      await own(...args);
      throw new MongoNetworkError("connection reset after the delete");
    });
    try {
      const agents = createMongoAgentRepository(db, { server: mongo.server, indexRepairDelayMs: 20 });
      const agent = create(AgentSchema, { metadata: { instanceUid: uuidv7Bytes() }, status: { connected: true, gatewayId: "gw-a" } });
      await agents.save(agent);
      await expect(agents.delete(agent)).rejects.toBeInstanceOf(DependencyUnavailableError);
      expect(await agents.get(instanceUidToHex(agent.metadata!.instanceUid))).toBeUndefined();
      await eventually(async () => (await indexDocumentOf(mongo, agent)) === null, 10_000, "the deleted agent's index document removed");
    } finally {
      await mongo.close();
    }
  });

  it("left by deleted agents are removed at the next start, 1,024 to a delete, and counted in one line; the agents' own stay", async () => {
    const mongo = await connectFreshMongo();
    const { db, deletes } = watchIndexDeletes(mongo.db);
    const { logger, lines } = capturingLogger();
    try {
      await ensureAgentIndexes(mongo.db, { server: mongo.server });
      const agents = createMongoAgentRepository(mongo.db, { server: mongo.server });
      const own = ["40".repeat(16), "80".repeat(16)].map((hex) => create(AgentSchema, { metadata: { instanceUid: Buffer.from(hex, "hex") }, status: { connected: true, gatewayId: `gw-${hex.slice(0, 2)}` } }));
      for (const agent of own) await agents.save(agent);
      // 2,100 left by deleted agents (crashes between a delete's two writes): before, between and after the agents' uids.
      const prefixes = ["00", "60", "c0"];
      const left = Array.from({ length: 2_100 }, (_, i) => ({ _id: `${prefixes[i % 3]}${i.toString(16).padStart(30, "0")}`, revision: BigInt(1 + (i % 5)), connected: true, gatewayId: "gw-gone", attrs: [] }));
      await mongo.db.collection<{ _id: string }>(AGENT_INDEX, { useBigInt64: true }).insertMany(left);

      await ensureAgentIndexes(db, { server: mongo.server, logger });
      expect(deletes).toEqual([1_024, 1_024, 52]);
      const index = mongo.db.collection<{ _id: string }>(AGENT_INDEX, { useBigInt64: true });
      expect(await index.countDocuments({})).toBe(2);
      for (const agent of own) expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 1n, gatewayId: agent.status!.gatewayId });
      expect(lines).toEqual([{ msg: "removed the agents' index documents left by deleted agents", fields: { found: 2_100, removed: 2_100, withAgentAgain: 0 } }]);

      // The next start finds none: no delete, no line.
      await ensureAgentIndexes(db, { server: mongo.server, logger });
      expect(deletes).toHaveLength(3);
      expect(lines).toHaveLength(1);
    } finally {
      await mongo.close();
    }
  });

  it("of an agent created again on another replica while its delete runs stay the new agent's (the delete's index write lands last)", async () => {
    const mongo = await connectFreshMongo();
    const server = mongo.server;
    try {
      await ensureAgentIndexes(mongo.db, { server });
      const replica = createMongoAgentRepository(mongo.db, { server });
      const agent = create(AgentSchema, { metadata: { instanceUid: Buffer.from("7".repeat(32), "hex") }, status: { connected: true, gatewayId: "gw-old" } });
      await replica.save(agent);
      // This replica deletes it; between the agent's delete and its index document's, the agent comes back on the
      // other replica (a reconnect): a new agent, revision 1, and its index document.
      const again = create(AgentSchema, { metadata: { instanceUid: agent.metadata!.instanceUid }, status: { connected: true, gatewayId: "gw-new" } });
      let hooked = false;
      const db = intercepting(mongo.db, AGENT_INDEX, "deleteOne", async (own, ...args) => {
        if (!hooked) {
          hooked = true;
          await replica.save(again);
        }
        return own(...args);
      });
      const deleting = createMongoAgentRepository(db, { server });
      const stored = await deleting.get(instanceUidToHex(agent.metadata!.instanceUid));
      await deleting.delete(stored!);
      expect(hooked).toBe(true);
      expect(await indexDocumentOf(mongo, again)).toMatchObject({ revision: 1n, gatewayId: "gw-new" });
      expect((await replica.list({ limit: 10, gatewayId: "gw-new" })).map((a) => a.revision)).toEqual([1n]);
      // The replica's next save of the same fields writes no index document (it wrote that one): it must still be there.
      await replica.save(again);
      expect((await deleting.list({ limit: 10, gatewayId: "gw-new" })).map((a) => a.revision)).toEqual([2n]);
    } finally {
      await mongo.close();
    }
  });

  it("of an agent saved again on another replica while its delete reads it back keep the newer revision, whichever of the two reads the save falls between", async () => {
    const mongo = await connectFreshMongo();
    const server = mongo.server;
    try {
      await ensureAgentIndexes(mongo.db, { server });
      const replica = createMongoAgentRepository(mongo.db, { server });
      const uid = Buffer.from("8".repeat(32), "hex");
      await replica.save(create(AgentSchema, { metadata: { instanceUid: uid }, status: { connected: true, gatewayId: "gw-old" } }));
      const again = create(AgentSchema, { metadata: { instanceUid: uid }, status: { connected: true, gatewayId: "gw-new" } });
      // Before the delete's index write the agent comes back on the replica (revision 1); then, between the delete's
      // two reads back (its index document and its agent), the replica saves it again on another gateway (revision 2).
      // Each hook once: the reads back are the first finds after the index write (a FerretDB write looks up too).
      let indexReadArmed = false;
      let agentsReadArmed = false;
      let agentsRead = false;
      let savedNewer = false;
      const saveNewer = async () => {
        savedNewer = true;
        again.status!.gatewayId = "gw-newer";
        await replica.save(again);
      };
      const cursorThen = (cursor: FindCursor, before: () => Promise<void>, after: () => Promise<void>) =>
        new Proxy(cursor, { get: (c, p) => (p === "toArray" ? async () => (await before(), await c.toArray().then(async (r) => (await after(), r))) : Reflect.get(c, p, c)) });
      let db = intercepting(mongo.db, AGENT_INDEX, "deleteOne", async (own, ...args) => {
        await replica.save(again);
        const done = await own(...args);
        indexReadArmed = agentsReadArmed = true;
        return done;
      });
      db = intercepting(db, "agents", "find", ((own: (...a: unknown[]) => FindCursor, ...args: unknown[]) => {
        if (!agentsReadArmed) return own(...args);
        agentsReadArmed = false;
        return cursorThen(own(...args), async () => {}, async () => void (agentsRead = true));
      }) as never);
      db = intercepting(db, AGENT_INDEX, "find", ((own: (...a: unknown[]) => FindCursor, ...args: unknown[]) => {
        if (!indexReadArmed) return own(...args);
        indexReadArmed = false;
        // Agents read beside this one (together) get the save after them and before this; read after it, the save
        // comes between the two all the same. A wait of at most 0.5 s tells the two apart.
        return cursorThen(own(...args), async () => {
          await vi.waitFor(() => expect(agentsRead).toBe(true), { timeout: 500, interval: 5 }).catch(() => undefined);
          if (agentsRead) await saveNewer();
        }, async () => {
          if (!savedNewer) await saveNewer();
        });
      }) as never);
      const deleting = createMongoAgentRepository(db, { server });
      await deleting.delete((await deleting.get(instanceUidToHex(uid)))!);
      expect(savedNewer).toBe(true);
      expect(await indexDocumentOf(mongo, again)).toMatchObject({ revision: 2n, gatewayId: "gw-newer" });
      // The replica's next save of the same fields writes no index document (it wrote revision 2's): it must hold them.
      await replica.save(again);
      expect((await replica.list({ limit: 10, gatewayId: "gw-newer" })).map((a) => a.revision)).toEqual([3n]);
    } finally {
      await mongo.close();
    }
  });

  it("left by a deleted agent, removed at a start while an agent of that uid is created, stay the new agent's", async () => {
    const mongo = await connectFreshMongo();
    const server = mongo.server;
    try {
      await ensureAgentIndexes(mongo.db, { server });
      const agents = createMongoAgentRepository(mongo.db, { server });
      const first = (id: number) => create(AgentSchema, { metadata: { instanceUid: Buffer.from(String(id).repeat(32), "hex") }, status: { connected: true, gatewayId: "gw-old" } });
      // Two agents deleted with a crash between the delete's writes, each leaving its index document at revision 1.
      const [moved, same] = [first(1), first(2)];
      for (const agent of [moved, same]) {
        await agents.save(agent);
        await mongo.db.collection<{ _id: string }>("agents").deleteOne({ _id: instanceUidToHex(agent.metadata!.instanceUid) });
        expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 1n, gatewayId: "gw-old" });
      }
      // Between the start pass's reads (no agent for either) and its delete, another replica creates both again:
      // `same` at its first save (revision 1: the leftover's own), `moved` past it (revision 2, a new gateway).
      const replica = createMongoAgentRepository(mongo.db, { server });
      const again = (agent: Agent, gatewayId: string) => create(AgentSchema, { metadata: { instanceUid: agent.metadata!.instanceUid }, status: { connected: true, gatewayId } });
      const [movedAgain, sameAgain] = [again(moved, "gw-new"), again(same, "gw-new")];
      const { db, deletes } = watchIndexDeletes(mongo.db, async () => {
        await replica.save(sameAgain);
        await replica.save(movedAgain);
        movedAgain.status!.gatewayId = "gw-moved";
        await replica.save(movedAgain);
      });
      const { logger, lines } = capturingLogger();
      await ensureAgentIndexes(db, { server, logger });
      expect(deletes).toEqual([2]);
      expect(await indexDocumentOf(mongo, sameAgain)).toMatchObject({ revision: 1n, gatewayId: "gw-new" });
      expect(await indexDocumentOf(mongo, movedAgain)).toMatchObject({ revision: 2n, gatewayId: "gw-moved" });
      expect((await replica.list({ limit: 10, gatewayId: "gw-new" })).map((a) => a.revision)).toEqual([1n]);
      expect((await replica.list({ limit: 10, gatewayId: "gw-moved" })).map((a) => a.revision)).toEqual([2n]);
      // `same`'s index document was taken with the leftover's revision, and written again from the new agent;
      // `moved`'s had moved on and was not taken.
      expect(lines).toEqual([{ msg: "removed the agents' index documents left by deleted agents", fields: { found: 2, removed: 1, withAgentAgain: 2 } }]);
    } finally {
      await mongo.close();
    }
  });

  for (const [server, leftover] of [["ferretdb", 1n], ["mongodb", 1n], ["ferretdb", 5n], ["mongodb", 5n]] as const) {
    it(`of an agent saved on another replica before its first save's index write lands keep the newer revision, over an earlier agent's at revision ${leftover} (written as on ${server})`, async () => {
      const mongo = await connectFreshMongo();
      try {
        await ensureAgentIndexes(mongo.db, { server: mongo.server });
        const uid = Buffer.from("9".repeat(32), "hex");
        // An earlier agent of this uid left its index document (a crash between a delete's two writes), at revision 1
        // or above the other replica's save: that save replaces it all the same (created earlier), and the first
        // save, landing last, gives way to that save's.
        const index = mongo.db.collection<IndexDocumentAsStored>(AGENT_INDEX, { useBigInt64: true });
        await index.insertOne({ _id: instanceUidToHex(uid), revision: leftover, connected: true, gatewayId: "gw-gone", attrs: [], createdAt: 500 });
        const replica = createMongoAgentRepository(mongo.db, { server });
        // This replica creates the agent (revision 1); before its index document's write, the other replica saves it on
        // another gateway (revision 2, and its index document).
        let hooked = false;
        const db = beforeIndexWrite(mongo.db, server, async () => {
          if (hooked) return;
          hooked = true;
          const stored = (await replica.get(instanceUidToHex(uid)))!;
          stored.status!.gatewayId = "gw-b";
          await replica.save(stored);
        });
        const creating = createMongoAgentRepository(db, { server });
        const agent = create(AgentSchema, { metadata: { instanceUid: uid, createdAt: timestampFromMs(1_000) }, status: { connected: true, gatewayId: "gw-a" } });
        await creating.save(agent);
        expect(hooked).toBe(true);
        // The first save replaces an earlier agent's index document, not this agent's newer one.
        expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 2n, gatewayId: "gw-b", createdAt: 1_000 });
        // The replica's next save of the same fields writes no index document (it wrote revision 2's): it must hold them.
        const again = (await replica.get(instanceUidToHex(uid)))!;
        await replica.save(again);
        expect((await replica.list({ limit: 10, gatewayId: "gw-b" })).map((a) => a.revision)).toEqual([3n]);

        // Unhindered, a first save replaces what an earlier agent of its uid left, at any revision.
        const other = Buffer.from("a".repeat(32), "hex");
        await index.insertOne({ _id: instanceUidToHex(other), revision: 4n, connected: true, gatewayId: "gw-gone", attrs: [], createdAt: 500 });
        const next = create(AgentSchema, { metadata: { instanceUid: other, createdAt: timestampFromMs(1_000) }, status: { connected: true, gatewayId: "gw-a" } });
        await creating.save(next);
        expect(await indexDocumentOf(mongo, next)).toMatchObject({ revision: 1n, gatewayId: "gw-a", createdAt: 1_000 });
      } finally {
        await mongo.close();
      }
    });
  }

  for (const server of ["ferretdb", "mongodb"] as const) {
    it(`written by a copy over an earlier agent's replace only that one as read, not the agent's own written since (written as on ${server})`, async () => {
      const mongo = await connectFreshMongo();
      try {
        const writer = createAgentIndexWriter(mongo.db, { server });
        const index = mongo.db.collection<IndexDocumentAsStored>(AGENT_INDEX, { useBigInt64: true });
        const fields = (gatewayId: string, createdAt: number) => ({ connected: true, gatewayId, attrs: [], namespace: "default", labels: [], disconnectedAt: null, rolloutGroup: null, createdAt });
        const [moved, still] = ["ef".repeat(16), "fe".repeat(16)];
        // Both uids: an earlier agent's document left at revision 2 (created at 500); the agent there now, at revision 1
        // (created at 1,000), lost its first index write. A copy reads both, and writes over exactly what it read.
        for (const id of [moved, still]) expect(await writer.copy({ id, revision: 2n, fields: fields("gw-gone", 500) })).toBe(true);
        const copy = (id: string) => ({ id, revision: 1n, fields: fields("gw-a", 1_000), over: { read: { revision: 2n, createdAt: 500 } } });
        // Between the copy's reads and its write, another replica saves one agent on another gateway (revision 2,
        // over the earlier agent's revision 2: created earlier).
        expect(await writer.copy({ id: moved, revision: 2n, fields: fields("gw-b", 1_000) })).toBe(true);
        expect(await Promise.all([writer.copy(copy(moved)), writer.copy(copy(still))])).toEqual([false, true]);
        expect(await index.findOne({ _id: moved })).toMatchObject({ revision: 2n, gatewayId: "gw-b", createdAt: 1_000 });
        expect(await index.findOne({ _id: still })).toMatchObject({ revision: 1n, gatewayId: "gw-a", createdAt: 1_000 });
        // A document written before createdAt was copied is matched as read too (its revision; no createdAt).
        const legacy = "dd".repeat(16);
        await index.insertOne({ _id: legacy, revision: 5n, connected: true, gatewayId: "gw-gone", attrs: [] });
        expect(await writer.copy({ id: legacy, revision: 1n, fields: fields("gw-a", 1_000), over: { read: { revision: 5n } } })).toBe(true);
        expect(await index.findOne({ _id: legacy })).toMatchObject({ revision: 1n, gatewayId: "gw-a" });
      } finally {
        await mongo.close();
      }
    });
  }

  it("of an earlier agent, replaced by a start pass's copy while another replica saves the agent there now, give way to that save", async () => {
    const mongo = await connectFreshMongo();
    const server = mongo.server;
    try {
      await ensureAgentIndexes(mongo.db, { server });
      const replica = createMongoAgentRepository(mongo.db, { server });
      const agent = await agentOverLeftover(mongo, replica, Buffer.from("6".repeat(32), "hex"), 2n);
      // A start's copy replaces it; before its write, the replica saves the agent on another gateway (revision 2, its
      // index write over the earlier agent's revision 2: created earlier).
      let hooked = false;
      const db = beforeIndexWrite(mongo.db, server, async () => {
        if (hooked) return;
        hooked = true;
        agent.status!.gatewayId = "gw-b";
        await replica.save(agent);
      });
      await ensureAgentIndexes(db, { server });
      expect(hooked).toBe(true);
      expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 2n, gatewayId: "gw-b", createdAt: 1_000 });
      // The replica's next save of the same fields writes no index document (it wrote revision 2's): it must hold them.
      await replica.save(agent);
      expect((await replica.list({ limit: 10, gatewayId: "gw-b" })).map((a) => a.revision)).toEqual([3n]);
    } finally {
      await mongo.close();
    }
  });

  it("of an agent whose first index write was lost, under an earlier agent's left at the same revision, are replaced by a start pass (told by creation time)", async () => {
    const mongo = await connectFreshMongo();
    const server = mongo.server;
    try {
      await ensureAgentIndexes(mongo.db, { server });
      const replica = createMongoAgentRepository(mongo.db, { server });
      // At revision 1, as the agent: revisions cannot tell the two apart.
      const agent = await agentOverLeftover(mongo, replica, Buffer.from("5".repeat(32), "hex"), 1n);
      await ensureAgentIndexes(mongo.db, { server });
      expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: 1n, gatewayId: "gw-a", createdAt: 1_000 });
      expect((await replica.list({ limit: 10, gatewayId: "gw-a" })).map((a) => a.revision)).toEqual([1n]);
    } finally {
      await mongo.close();
    }
  });

  for (const server of ["ferretdb", "mongodb"] as const) {
    it(`of agents of one uid are ordered by creation time: a save replaces an earlier agent's at any revision, a later agent's only forward (written as on ${server})`, async () => {
      const mongo = await connectFreshMongo();
      try {
        const writer = createAgentIndexWriter(mongo.db, { server });
        const index = mongo.db.collection<IndexDocumentAsStored>(AGENT_INDEX, { useBigInt64: true });
        const fields = (gatewayId: string, createdAt: number) => ({ connected: true, gatewayId, attrs: [], namespace: "default", labels: [], disconnectedAt: null, rolloutGroup: null, createdAt });
        const [earlier, later, legacy, before1970] = ["e1".repeat(16), "e2".repeat(16), "e3".repeat(16), "e4".repeat(16)];
        // An agent (created at 1,000) whose first index write was lost, over an earlier agent's left at revision 5:
        // its next save replaces it.
        await index.insertOne({ _id: earlier, revision: 5n, connected: true, gatewayId: "gw-gone", attrs: [], createdAt: 500 });
        await writer.afterSave(earlier, 2n, fields("gw-a", 1_000));
        expect(await index.findOne({ _id: earlier })).toMatchObject({ revision: 2n, gatewayId: "gw-a", createdAt: 1_000 });
        // The agent created at 1,000 was deleted and the uid created again at 2,000 (revision 1). A late first save
        // of the deleted agent does not undo the later agent's (not forward, not an earlier agent's) ...
        await index.insertOne({ _id: later, revision: 1n, connected: true, gatewayId: "gw-new", attrs: [], createdAt: 2_000 });
        await writer.afterSave(later, 1n, fields("gw-late", 1_000));
        expect(await index.findOne({ _id: later })).toMatchObject({ revision: 1n, gatewayId: "gw-new", createdAt: 2_000 });
        // ... a later one goes forward, as the agent document it follows did (a stale replica's save of the deleted
        // agent, checked by revision only, won over the agent created again: refused, the index document would
        // contradict its agent for good; review H82) — and the later agent's next save replaces it, at any revision.
        await writer.afterSave(later, 4n, fields("gw-late", 1_000));
        expect(await index.findOne({ _id: later })).toMatchObject({ revision: 4n, gatewayId: "gw-late", createdAt: 1_000 });
        await writer.afterSave(later, 2n, fields("gw-new", 2_000));
        expect(await index.findOne({ _id: later })).toMatchObject({ revision: 2n, gatewayId: "gw-new", createdAt: 2_000 });
        // A creation time below 0 (a replica's clock before 1970) is still a time: an earlier agent's, replaced.
        await index.insertOne({ _id: before1970, revision: 5n, connected: true, gatewayId: "gw-gone", attrs: [], createdAt: -1 });
        await writer.afterSave(before1970, 2n, fields("gw-a", 1_000));
        expect(await index.findOne({ _id: before1970 })).toMatchObject({ revision: 2n, gatewayId: "gw-a", createdAt: 1_000 });
        // A document without a creation time above the save's revision may be this agent's own (written by an older
        // binary): only a first save replaces it.
        await index.insertOne({ _id: legacy, revision: 5n, connected: true, gatewayId: "gw-old", attrs: [] });
        await writer.afterSave(legacy, 2n, fields("gw-a", 1_000));
        expect(await index.findOne({ _id: legacy })).toMatchObject({ revision: 5n, gatewayId: "gw-old" });
        await writer.afterSave(legacy, 1n, fields("gw-a", 1_000));
        expect(await index.findOne({ _id: legacy })).toMatchObject({ revision: 1n, gatewayId: "gw-a", createdAt: 1_000 });
      } finally {
        await mongo.close();
      }
    });
  }

  for (const server of ["ferretdb", "mongodb"] as const) {
    it(`hold the agent created again: a replica's save of the deleted agent is a revision conflict at its revision (written as on ${server})`, async () => {
      const mongo = await connectFreshMongo();
      try {
        const stale = createMongoAgentRepository(mongo.db, { server });
        const other = createMongoAgentRepository(mongo.db, { server });
        const uid = uuidv7Bytes();
        const agentOf = (createdMs: number, gatewayId: string) => create(AgentSchema, { metadata: { instanceUid: uid, createdAt: timestampFromMs(createdMs) }, status: { connected: true, gatewayId } });
        // One replica serves the agent (created at 1,000) and keeps it; another deletes it, and the uid comes back
        // there as a new agent (created at 2,000), at revision 1 too.
        const deleted = agentOf(1_000, "gw-a");
        await stale.save(deleted);
        await other.delete((await other.get(instanceUidToHex(uid)))!);
        await other.save(agentOf(2_000, "gw-b"));
        // The first replica writes what it holds: refused, by one write and in a batch, as a revision conflict.
        deleted.status!.gatewayId = "gw-c";
        await expect(stale.save(deleted)).rejects.toBeInstanceOf(RevisionConflictError);
        expect(await stale.saveMany([deleted])).toEqual([false]);
        const stored = await other.get(instanceUidToHex(uid));
        expect({ gatewayId: stored!.status!.gatewayId, revision: stored!.revision }).toEqual({ gatewayId: "gw-b", revision: 1n });
        expect((await other.list({ limit: 10, gatewayId: "gw-b" })).map((a) => a.status!.gatewayId)).toEqual(["gw-b"]);
        // A document last saved before the creation time was copied into it is saved over by its agent.
        await mongo.db.collection<{ _id: string }>("agents").updateOne({ _id: instanceUidToHex(uid) }, { $unset: { createdAt: "" } });
        stored!.status!.gatewayId = "gw-d";
        await other.save(stored!);
        expect((await other.get(instanceUidToHex(uid)))!.status!.gatewayId).toBe("gw-d");
      } finally {
        await mongo.close();
      }
    });
  }

  it("are overwritten by the same rule in both its forms (the filter MongoDB checks, the look-up FerretDB 1.x decides by), whatever the types stored", async () => {
    const mongo = await connectFreshMongo();
    try {
      const byFilter = createAgentIndexWriter(mongo.db, { server: "mongodb" });
      const byLookup = createAgentIndexWriter(mongo.db, { server: "ferretdb" });
      const index = mongo.db.collection<IndexDocumentAsStored>(AGENT_INDEX, { useBigInt64: true });
      // Documents as they may be stored: creation times as an earlier binary or a hand may have written them.
      const stored: Array<Record<string, unknown> | undefined> = [
        undefined,
        { revision: 3n },
        { revision: new Int32(3) },
        { revision: new Double(3), createdAt: null },
        { revision: 3n, createdAt: 0 },
        { revision: 3n, createdAt: 500 },
        { revision: 3n, createdAt: Long.fromNumber(1_000) },
        { revision: 3n, createdAt: new Double(1_000) },
        { revision: 3n, createdAt: 2_000 },
      ];
      const fields = (createdAt?: number) => ({ connected: true, gatewayId: "gw-new", attrs: [], ...(createdAt !== undefined ? { createdAt } : {}) });
      const writes: Array<Omit<Parameters<typeof byFilter.copy>[0], "id">> = [
        ...[2n, 3n, 4n].flatMap((revision) => [{ revision, fields: fields(1_000) }, { revision, fields: fields(0) }]),
        ...[fields(), fields(0), fields(1_000)].map((f) => ({ revision: 1n, fields: f, over: "first save" as const })),
        ...[undefined, null, 0, 500, 1_000, 2_000].map((createdAt) => ({ revision: 1n, fields: fields(1_000), over: { read: { revision: 3n, createdAt } as never } })),
        { revision: 1n, fields: fields(0), over: { read: { revision: 3n, createdAt: 500 } } },
        { revision: 1n, fields: fields(1_000), over: { read: { revision: 2n } } },
      ];
      const differ: string[] = [];
      let n = 0;
      for (const doc of stored) {
        for (const write of writes) {
          const ids = [0, 1].map(() => (++n).toString(16).padStart(32, "0"));
          if (doc) await index.insertMany(ids.map((_id) => ({ _id, ...doc, connected: true, gatewayId: "gw-old", attrs: [] })));
          const written = [await byFilter.copy({ id: ids[0]!, ...write }), await byLookup.copy({ id: ids[1]!, ...write })];
          const held = await Promise.all(ids.map(async (_id) => (await index.findOne({ _id }))?.gatewayId));
          if (written[0] !== written[1] || held[0] !== held[1]) differ.push(`${String(doc?.revision)}/${String(doc?.createdAt)} ← ${JSON.stringify(write, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))}: ${written} ${held}`);
        }
      }
      expect(differ).toEqual([]);
    } finally {
      await mongo.close();
    }
  });

  for (const race of ["saved again (no creation time: told by revision)", "deleted and created again"] as const) {
    it(`read by a start pass after their agent, which another replica ${race} between the two reads, keep the newer one`, async () => {
      const mongo = await connectFreshMongo();
      const server = mongo.server;
      try {
        await ensureAgentIndexes(mongo.db, { server });
        const replica = createMongoAgentRepository(mongo.db, { server });
        const uid = Buffer.from("7".repeat(32), "hex");
        const createdAt = race === "deleted and created again" ? { createdAt: timestampFromMs(1_000) } : {};
        const agent = create(AgentSchema, { metadata: { instanceUid: uid, ...createdAt }, status: { connected: true, gatewayId: "gw-a" } });
        await replica.save(agent);
        // An index document before it with no agent, so the pass reads the agent's own after the agents' first batch.
        await mongo.db.collection<IndexDocumentAsStored>(AGENT_INDEX, { useBigInt64: true }).insertOne({ _id: "0".repeat(32), revision: 1n, connected: true, gatewayId: "gw-gone", attrs: [] });
        let newer: Agent | undefined;
        const db = liveIndexCursor(mongo.db, async (reads) => {
          if (reads !== 1) return; // the first read is before the agents' cursor starts; the second, after it read the agent
          if (race === "deleted and created again") {
            await replica.delete(agent);
            newer = create(AgentSchema, { metadata: { instanceUid: uid, createdAt: timestampFromMs(2_000) }, status: { connected: true, gatewayId: "gw-new" } });
          } else {
            newer = agent;
            newer.status!.gatewayId = "gw-new";
          }
          await replica.save(newer);
        });
        await ensureAgentIndexes(db, { server });
        expect(newer).toBeDefined();
        expect(await indexDocumentOf(mongo, agent)).toMatchObject({ revision: newer!.revision, gatewayId: "gw-new" });
        // The replica's next save of the same fields writes no index document (it wrote that one): it must hold them.
        await replica.save(newer!);
        expect((await replica.list({ limit: 10, gatewayId: "gw-new" })).map((a) => a.revision)).toEqual([newer!.revision]);
        expect(await replica.list({ limit: 10, gatewayId: "gw-a" })).toEqual([]);
      } finally {
        await mongo.close();
      }
    });
  }

  for (const server of ["ferretdb", "mongodb"] as const) {
    it(`only go forward: a late write of an older revision never undoes a newer one (written as on ${server})`, async () => {
      const mongo = await connectFreshMongo();
      try {
        const writer = createAgentIndexWriter(mongo.db, { server });
        const id = "ab".repeat(16);
        const fields = (gatewayId: string) => ({ connected: true, gatewayId, attrs: [], namespace: "default", labels: [], disconnectedAt: null, rolloutGroup: null });
        expect(await writer.copy({ id, revision: 5n, fields: fields("gw-5") })).toBe(true);
        expect(await writer.copy({ id, revision: 3n, fields: fields("gw-3") })).toBe(false);
        expect(await writer.copy({ id, revision: 5n, fields: fields("gw-5b") })).toBe(false);
        const index = mongo.db.collection<{ _id: string }>(AGENT_INDEX, { useBigInt64: true });
        expect(await index.findOne({ _id: id })).toMatchObject({ revision: 5n, gatewayId: "gw-5" });
        // Late writes in one batch with newer ones.
        expect(await Promise.all([writer.copy({ id, revision: 6n, fields: fields("gw-6") }), writer.copy({ id: "cd".repeat(16), revision: 1n, fields: fields("gw-1") })])).toEqual([true, true]);
        expect(await Promise.all([writer.copy({ id, revision: 4n, fields: fields("gw-4") }), writer.copy({ id: "cd".repeat(16), revision: 2n, fields: fields("gw-2") })])).toEqual([false, true]);
        expect(await index.findOne({ _id: id })).toMatchObject({ revision: 6n, gatewayId: "gw-6" });
        expect(await index.findOne({ _id: "cd".repeat(16) })).toMatchObject({ revision: 2n, gatewayId: "gw-2" });
      } finally {
        await mongo.close();
      }
    });
  }
});

// A store that keeps partial indexes (FerretDB 2 on PostgreSQL, MongoDB), when one is given: the
// FerretDB 1.x this file starts refuses them (there the indexes hold every agent). E.g.
// FLEETPLANE_TEST_MONGO_URL=mongodb://127.0.0.1:27018/ (docs/ferretdb2.md); each test gets a fresh database.
const partialIndexStoreUrl = process.env.FLEETPLANE_TEST_MONGO_URL;
if (!partialIndexStoreUrl) {
  console.warn(
    "\n!!! FLEETPLANE_TEST_MONGO_URL is not set: the agent repository contract and index-plan checks on a store with partial indexes (FerretDB 2, MongoDB) are SKIPPED." +
      "\n!!! Start FerretDB 2 as docs/ferretdb2.md says and export FLEETPLANE_TEST_MONGO_URL=mongodb://127.0.0.1:27018/ !!!\n",
  );
}

/** A fresh database on that store, as production connects to it, dropped on close. */
async function connectPartialIndexStore(o: { monitorCommands?: boolean } = {}): Promise<MongoStore> {
  const external = await useExternalMongo(partialIndexStoreUrl!, "FLEETPLANE_TEST_MONGO_URL");
  const mongo = await connectMongo(o.monitorCommands ? `${external.uri}?monitorCommands=true` : external.uri, { logger: silentLogger() });
  await ensureAgentIndexes(mongo.db, { server: mongo.server });
  return {
    ...mongo,
    async close() {
      await mongo.close();
      await external.stop({ removeData: true });
    },
  };
}

if (partialIndexStoreUrl) {
  agentRepositoryContract("MongoDB (FLEETPLANE_TEST_MONGO_URL)", async () => {
    const mongo = await connectPartialIndexStore();
    return {
      agents: createMongoAgentRepository(mongo.db, { server: mongo.server }),
      connections: createMongoConnectionRepository(mongo.db),
      leases: createMongoGatewayLeaseRepository(mongo.db),
      close: () => mongo.close(),
    };
  });
}

if (partialIndexStoreUrl) {
  commandRepositoryContract("MongoDB (FLEETPLANE_TEST_MONGO_URL)", async () => {
    const mongo = await connectPartialIndexStore();
    await ensureCommandIndexes(mongo.db, { server: mongo.server });
    return { commands: createMongoCommandRepository(mongo.db, { server: mongo.server }), close: () => mongo.close() };
  });
}

describe.skipIf(!partialIndexStoreUrl)("MongoDB command indexes on a store with partial indexes (FLEETPLANE_TEST_MONGO_URL)", () => {
  it("pending_commands holds only the pending records, and the pending count is planned on it", async () => {
    const mongo = await connectPartialIndexStore({ monitorCommands: true });
    try {
      await ensureCommandIndexes(mongo.db, { server: mongo.server });
      const commands = createMongoCommandRepository(mongo.db, { server: mongo.server });
      // 2,000 records, 1 in 100 pending: few enough that the index is the plan.
      const records = Array.from({ length: 2_000 }, (_, i) =>
        create(CommandRecordSchema, { id: instanceUidToHex(uuidv7Bytes(1_767_225_600_000 + i)), instanceUid: "ef".repeat(16), kind: "restart", state: i % 100 === 50 ? CommandState.PENDING : CommandState.APPLIED }),
      );
      for (let i = 0; i < records.length; i += 500) await commands.insertNewMany(records.slice(i, i + 500));

      const indexes = await mongo.db.collection("commands").listIndexes().toArray();
      for (const index of COMMAND_INDEXES.filter((i) => i.partialFilterExpression)) {
        expect(indexes.find((i) => i.name === index.name)?.partialFilterExpression).toEqual(index.partialFilterExpression);
      }
      let lastCount: Record<string, unknown> | undefined;
      mongo.client.on("commandStarted", (e) => void (e.commandName === "aggregate" && (lastCount = e.command as Record<string, unknown>)));
      expect(await commands.countPending()).toBe(20);
      // countDocuments is an aggregate ($match, $group): the store's plan of it.
      const { $db: _db, lsid: _lsid, $clusterTime: _clusterTime, ...aggregate } = lastCount!;
      expect(indexesInPlan(await mongo.db.command({ explain: aggregate, verbosity: "queryPlanner" }))).toContain("pending_commands");
    } finally {
      await mongo.close();
    }
  });
});

describe.skipIf(!partialIndexStoreUrl)("MongoDB agent indexes on a store with partial indexes (FLEETPLANE_TEST_MONGO_URL)", () => {
  it("hold only the disconnected or labelled agents, and the queries that need them are planned on them", async () => {
    const mongo = await connectPartialIndexStore({ monitorCommands: true });
    try {
      const agents = createMongoAgentRepository(mongo.db, { server: mongo.server });
      // 2,000 agents, 1 in 100 disconnected and 1 in 100 labelled: few enough matches that an index is the plan.
      const all = Array.from({ length: 2_000 }, (_, i) =>
        create(AgentSchema, {
          metadata: { instanceUid: uuidv7Bytes(), ...(i % 100 === 25 ? { labels: { team: "payments" } } : {}) },
          status: i % 100 === 50 ? { connected: false, disconnectedAt: timestampFromMs(1_000 + i) } : { connected: true, gatewayId: "gw-a" },
        }),
      );
      for (let i = 0; i < all.length; i += 250) await Promise.all(all.slice(i, i + 250).map((a) => agents.save(a)));

      const indexes = await mongo.db.collection(AGENT_INDEX).listIndexes().toArray();
      for (const index of AGENT_INDEXES.filter((i) => i.partialFilterExpression)) {
        expect(indexes.find((i) => i.name === index.name)?.partialFilterExpression).toEqual(index.partialFilterExpression);
      }

      let lastFind: Record<string, unknown> | undefined;
      mongo.client.on("commandStarted", (e) => void (e.commandName === "find" && e.command.find === AGENT_INDEX && (lastFind = e.command as Record<string, unknown>)));
      /** The indexes the store plans the query's find of index documents on. */
      const plannedOn = async (query: () => Promise<Agent[]>, found: number) => {
        expect(await query()).toHaveLength(found);
        const { $db: _db, lsid: _lsid, $clusterTime: _clusterTime, ...find } = lastFind!;
        return indexesInPlan(await mongo.db.command({ explain: find, verbosity: "queryPlanner" }));
      };
      expect(await plannedOn(() => agents.listDisconnected({ before: 1_000_000, limit: 100 }), 20)).toContain("disconnected_agents");
      expect(await plannedOn(() => agents.list({ connected: false, limit: 100 }), 20)).toContain("disconnected_agents");
      expect(await plannedOn(() => agents.list({ labels: { team: "payments" }, limit: 100 }), 20)).toContain("labelled_agents");
    } finally {
      await mongo.close();
    }
  });
});

describe("MongoDB certificate request decisions", () => {
  it("copy a claimed decision onto a request its winner left PENDING (stopped between its two writes)", async () => {
    const mongo = await connectFreshMongo();
    try {
      const requests = createMongoCertificateRequestRepository(mongo.db);
      const pending = create(CertificateRequestSchema, { id: "0193a5b2c3d47000800000000000beef", instanceUid: "ab".repeat(16), namespace: "default", state: CertificateRequestState.PENDING });
      await requests.save(pending);
      const winner = create(CertificateRequestSchema, { ...pending, state: CertificateRequestState.DENIED, decidedBy: "alice", reason: "unknown host" });
      // The winner's claim is written, its update of the request is not.
      await mongo.db.collection<{ _id: string; state: number; proto: Binary }>("certificate_request_decisions").insertOne({
        _id: pending.id,
        state: winner.state,
        proto: new Binary(toBinary(CertificateRequestSchema, winner)),
      });
      expect(await requests.decide(create(CertificateRequestSchema, { ...pending, state: CertificateRequestState.APPROVED, decidedBy: "bob" }))).toBe(false);
      expect(await requests.get(pending.id)).toEqual(winner);
      expect(await requests.list({ namespace: "default", state: CertificateRequestState.DENIED, limit: 10 })).toEqual([winner]);
    } finally {
      await mongo.close();
    }
  });
});

describe("stores written before pending commands were counted", () => {
  const record = (state: CommandState, sequence: number) =>
    create(CommandRecordSchema, { id: instanceUidToHex(uuidv7Bytes(1_767_225_600_000 + sequence)), instanceUid: "ab".repeat(16), kind: "restart", state });

  it("LMDB: the pending index is built from the trail once, on open", async () => {
    const { store, close } = openTemporaryLmdb();
    try {
      // Records as an older version left them: in the table, with no pending index.
      const legacy = store.openDB<Buffer, string>({ name: "commands", encoding: "binary" });
      const records = [CommandState.PENDING, CommandState.DELIVERED, CommandState.PENDING].map(record);
      for (const r of records) await legacy.put(r.id, Buffer.from(toBinary(CommandRecordSchema, r)));
      const commands = createLmdbCommandRepository(store);
      expect(await commands.countPending()).toBe(2);
      await commands.save({ ...records[0]!, state: CommandState.DELIVERED });
      // Opened again, the index is kept, not rebuilt (nor counted twice).
      expect(await createLmdbCommandRepository(store).countPending()).toBe(1);
    } finally {
      await close();
    }
  });

  it("MongoDB: ensureCommandIndexes copies the state into documents that lack it", async () => {
    const mongo = await connectFreshMongo();
    try {
      await mongo.db.collection<{ _id: string }>("commands").insertMany(
        [CommandState.PENDING, CommandState.APPLIED, CommandState.PENDING].map(record).map((r) => {
          return { _id: r.id, instanceUid: r.instanceUid, proto: new Binary(toBinary(CommandRecordSchema, r)) };
        }),
      );
      await ensureCommandIndexes(mongo.db, { server: mongo.server });
      expect(await createMongoCommandRepository(mongo.db).countPending()).toBe(2);
    } finally {
      await mongo.close();
    }
  });
});

describe("stores written before namespaces held packages and certificate requests", () => {
  const legacyPackage = (name: string) =>
    create(PackageSchema, { name, version: "1.0.0", type: PackageType.PackageType_Addon, downloadUrl: `https://pkgs.example/${name}.tgz`, sha256: new Uint8Array(32).fill(1), hash: new Uint8Array(32).fill(2) });
  const legacyRequest = (sequence: number) =>
    create(CertificateRequestSchema, { id: instanceUidToHex(uuidv7Bytes(1_767_225_600_000 + sequence)), instanceUid: "ab".repeat(16), state: CertificateRequestState.PENDING });

  it("LMDB: packages keyed [name, version] move to \"default\" on first use; requests without a namespace read as \"default\"", async () => {
    const { store, close } = openTemporaryLmdb();
    try {
      // Entries as an older version left them: package keys without a namespace, requests without one.
      const legacyPackages = store.openDB<Buffer, [string, string]>({ name: "packages", encoding: "binary" });
      for (const name of ["otelcol", "addon"]) await legacyPackages.put([name, "1.0.0"], Buffer.from(toBinary(PackageSchema, legacyPackage(name))));
      const request = legacyRequest(1);
      await store.openDB<Buffer, string>({ name: "certificate-requests", encoding: "binary" }).put(request.id, Buffer.from(toBinary(CertificateRequestSchema, request)));
      await store.openDB<string, string>({ name: "certificate-requests-by-agent", encoding: "string" }).put(`${request.instanceUid}/${request.id}`, request.id);

      const packages = createLmdbPackageRepository(store);
      expect((await packages.list("default", { limit: 10 })).map((p) => `${p.namespace}/${p.name}`)).toEqual(["default/addon", "default/otelcol"]);
      expect((await packages.get("default", { name: "otelcol", version: "1.0.0" }))?.namespace).toBe("default");
      expect(await packages.list("team-a", { limit: 10 })).toEqual([]);
      // Moved, not copied: opened again, nothing is left under the old keys.
      expect([...legacyPackages.getKeys({})].filter((k) => k.length === 2)).toEqual([]);
      expect((await createLmdbPackageRepository(store).list("default", { limit: 10 })).length).toBe(2);

      const requests = createLmdbCertificateRequestRepository(store);
      expect((await requests.list({ namespace: "default", instanceUid: request.instanceUid, limit: 10 })).map((r) => [r.id, r.namespace])).toEqual([[request.id, "default"]]);
      expect(await requests.list({ namespace: "team-a", limit: 10 })).toEqual([]);
    } finally {
      await close();
    }
  });

  it("MongoDB: ensurePackageIndexes and ensureCertificateRequestIndexes file documents without a namespace under \"default\"", async () => {
    const mongo = await connectFreshMongo();
    try {
      await mongo.db.collection<{ _id: string }>("packages").insertMany(
        ["otelcol", "addon"].map((name) => ({ _id: JSON.stringify([name, "1.0.0"]), name, version: "1.0.0", proto: new Binary(toBinary(PackageSchema, legacyPackage(name))) })),
      );
      const request = legacyRequest(2);
      await mongo.db.collection<{ _id: string; instanceUid: string; state: number; proto: Binary }>("certificate_requests").insertOne({ _id: request.id, instanceUid: request.instanceUid, state: request.state, proto: new Binary(toBinary(CertificateRequestSchema, request)) });
      for (let start = 0; start < 2; start++) {
        await ensurePackageIndexes(mongo.db);
        await ensureCertificateRequestIndexes(mongo.db);
      }
      const packages = createMongoPackageRepository(mongo.db);
      expect((await packages.list("default", { limit: 10 })).map((p) => `${p.namespace}/${p.name}`)).toEqual(["default/addon", "default/otelcol"]);
      expect(await mongo.db.collection("packages").countDocuments()).toBe(2);
      expect(await packages.list("team-a", { limit: 10 })).toEqual([]);
      const requests = createMongoCertificateRequestRepository(mongo.db);
      expect((await requests.list({ namespace: "default", state: CertificateRequestState.PENDING, limit: 10 })).map((r) => [r.id, r.namespace])).toEqual([[request.id, "default"]]);
      expect(await requests.list({ namespace: "team-a", limit: 10 })).toEqual([]);
    } finally {
      await mongo.close();
    }
  });
});

describe("stores written before agents were indexed by disconnection", () => {
  it("MongoDB: ensureAgentIndexes copies disconnectedAt into documents that lack it", async () => {
    const mongo = await connectFreshMongo();
    try {
      const agentAt = (connected: boolean, disconnectedAt: number) =>
        create(AgentSchema, { metadata: { instanceUid: uuidv7Bytes() }, status: { connected, disconnectedAt: timestampFromMs(disconnectedAt) } });
      const agents = [agentAt(false, 1_000), agentAt(true, 2_000), agentAt(false, 3_000)];
      // Documents as an older version left them: no disconnectedAt.
      await mongo.db.collection<{ _id: string }>("agents").insertMany(
        agents.map((a) => ({ _id: instanceUidToHex(a.metadata!.instanceUid), revision: 1n, connected: a.status!.connected, proto: new Binary(toBinary(AgentSchema, a)) })),
      );
      await ensureAgentIndexes(mongo.db, { server: mongo.server });
      const listed = await createMongoAgentRepository(mongo.db).listDisconnected({ before: 10_000, limit: 10 });
      expect(listed.map((a) => instanceUidToHex(a.metadata!.instanceUid))).toEqual([agents[0]!, agents[2]!].map((a) => instanceUidToHex(a.metadata!.instanceUid)));
    } finally {
      await mongo.close();
    }
  });
  it("MongoDB: ensureAgentIndexes copies an agent's rollout group, version and rollout into documents that lack them", async () => {
    const mongo = await connectFreshMongo();
    try {
      const inGroup = (group: string, version: number, rollout: string, source = ConfigSource.GROUP) =>
        create(AgentSchema, { metadata: { instanceUid: uuidv7Bytes() }, spec: { assignment: { source, group, configuration: "c", version, rollout } } });
      const agents = [inGroup("g", 2, "r1"), inGroup("g", 1, ""), inGroup("g", 1, "", ConfigSource.AGENT), inGroup("h", 1, "")];
      // Documents as an older version left them: no rollout copies.
      await mongo.db.collection<{ _id: string }>("agents").insertMany(
        agents.map((a) => ({ _id: instanceUidToHex(a.metadata!.instanceUid), revision: 1n, connected: false, proto: new Binary(toBinary(AgentSchema, a)) })),
      );
      await ensureAgentIndexes(mongo.db, { server: mongo.server });
      const listed = await createMongoAgentRepository(mongo.db).listGroupTargets("default", "g", { limit: 10 });
      const expected = [
        { uid: instanceUidToHex(agents[0]!.metadata!.instanceUid), version: 2, rollout: "r1" },
        { uid: instanceUidToHex(agents[1]!.metadata!.instanceUid), version: 1, rollout: "" },
      ].sort((x, y) => (x.uid < y.uid ? -1 : 1));
      expect(listed).toEqual(expected);
    } finally {
      await mongo.close();
    }
  });
});

describe("MongoDB availability", () => {
  it("refuses to start, within seconds and without leaking the password, when the database is unreachable", async () => {
    const port = await freePort(); // nothing listens here
    const started = Date.now();
    const failure = await connectMongo(`mongodb://fleet:s3cret-pw@127.0.0.1:${port}/fleetplane`, { logger: silentLogger() }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(failure?.message).toContain(`127.0.0.1:${port}`);
    expect(failure?.message).not.toContain("s3cret-pw");
  });

  // Stops and restarts the shared FerretDB: keep this test last in the file.
  it("answers DependencyUnavailableError while the database is down, then works again with the data intact", async () => {
    const mongo = await connectFreshMongo();
    try {
      await ensureAgentIndexes(mongo.db, { server: mongo.server });
      const agents = createMongoAgentRepository(mongo.db);
      const commands = createMongoCommandRepository(mongo.db);
      const agent = create(AgentSchema, {
        metadata: { instanceUid: new Uint8Array(16).fill(7) },
        status: { connected: true, gatewayId: "gw-a" },
      });
      await agents.save(agent);
      const uid = instanceUidToHex(agent.metadata!.instanceUid);

      await ferret.stop();
      for (const call of [() => agents.get(uid), () => agents.save(agent), () => agents.list({ limit: 10 }), () => commands.ping()]) {
        const started = Date.now();
        await expect(call()).rejects.toBeInstanceOf(DependencyUnavailableError);
        expect(Date.now() - started).toBeLessThan(10_000);
      }
      expect(agent.revision).toBe(1n); // the failed save changed nothing

      ferret = await startFerretDb({ port: ferret.port, dataDir: ferret.dataDir });
      // The same repository object recovers: the driver reconnects by itself.
      const back = await eventually(() => agents.get(uid).catch(() => undefined), 20_000, "the agent after the restart");
      expect(back).toEqual(agent);
      back.status!.connected = false;
      await agents.save(back);
      expect(back.revision).toBe(2n);
      expect((await agents.list({ limit: 10, connected: false })).map((a) => a.revision)).toEqual([2n]);
    } finally {
      await mongo.close();
    }
  });
});

describe("connectMongo", () => {
  it("tells FerretDB from MongoDB (its buildInfo), so the agents' conditional save is checked by a look-up by _id there", async () => {
    const mongo = await connectFreshMongo();
    try {
      expect(mongo.server).toBe("ferretdb");
    } finally {
      await mongo.close();
    }
  });

  it("opens at most 10 connections to FerretDB (writes beyond wait in the driver, not on SQLite's lock), unless the URL names maxPoolSize", async () => {
    const bounded = await connectFreshMongo();
    const named = await connectMongo(`${ferret.uri.replace(/\/?$/, "/")}?maxPoolSize=3`, { logger: silentLogger(), dbName: `contract_${process.pid}_pool` });
    try {
      expect(bounded.client.options.maxPoolSize).toBe(10);
      expect(named.client.options.maxPoolSize).toBe(3);
    } finally {
      await bounded.close();
      await named.close();
    }
  });
});
