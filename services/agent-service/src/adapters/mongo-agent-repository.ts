import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { AgentSchema, ConnectionSchema, RemoteConfigState, type Agent, type Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { DependencyUnavailableError, asError, instanceUidToHex, type Logger } from "@fleetplane/platform";
import { bytesOfBinary, createNamedIndexes, dropIndexesIfPresent, guardMongo, guardsHold, isDuplicateKey, updateByIdOp, updateByIdWhile, upsertWithRetry, type MongoServer, type NamedIndex, type WriteGuard } from "@fleetplane/platform-node/mongo";
import { Binary, type Collection, type Db, type Filter, type Sort } from "mongodb";
import {
  RevisionConflictError,
  type AgentQuery,
  type AgentRepository,
  type DisconnectedCursor,
  type DisconnectedQuery,
} from "../agents/agent-repository.js";
import type { ConnectionRepository } from "../connections/connection-store.js";
import type { GatewayLeaseRepository } from "../connections/gateway-lease-store.js";
import { agentStringAttributes, matchesAgentQuery } from "../agents/agent-query.js";
import { namespaceOf } from "../agents/agent-namespace.js";
import { DEFAULT_NAMESPACE } from "../fleet/resource-names.js";
import { MAX_AGENT_TYPES, buildFleetSummary, summaryFieldsOf } from "../agents/fleet-summary.js";
import { disconnectedSince } from "../agents/disconnected-since.js";
import { groupTargetOf, rolloutGroupOf } from "../rollouts/group-agents.js";
import { componentsKeyOf } from "../rollouts/preflight.js";
import { conditionalWriteBatches } from "./mongo-write-batches.js";
import { AGENT_INDEX, INDEX_SOURCE_PROJECTION, createAgentIndexWriter, indexCopyOf, indexFieldsOf, type AgentIndexDocument, type AgentIndexFields, type IndexLeftover, type LeftoversRemoved } from "./mongo-agent-index.js";

/**
 * One document per agent in the `agents` collection, whose only index is
 * `_id`. The agent itself is the `proto` blob (the protobuf is the schema);
 * the other fields copy what ListAgents filters on and the fleet summary
 * groups by, so the database can filter on them. The indexes are on a
 * document of their own (mongo-agent-index.ts: AGENT_INDEX), which holds
 * the indexed copies and is written only when they change: a write of a
 * document here writes no index entry but `_id`'s. Keys are fixed names
 * only: FerretDB 1.x (and older MongoDB) reject keys containing "." or
 * starting with "$", which attribute keys like "service.name" would be.
 */
interface AgentDocument extends AgentIndexFields {
  _id: string; // hex instance UID
  revision: bigint | number; // stored as int64; number only if another tool wrote it
  // The indexed fields (AgentIndexFields) are copied here too, unindexed: a
  // query served by an index checks them again here (throughIndex), and
  // `disconnectedAt` and `rolloutGroup` were copied into older documents
  // by ensureAgentIndexes.
  // Copies the fleet summary groups by (see fleet-summary.ts). Documents
  // written before these fields existed lack them until their next save;
  // the summary reads a missing field as false / UNSET / "".
  healthy: boolean;
  configured: boolean;
  configState: number;
  serviceName: string;
  serviceVersion: string;
  /**
   * The version and rollout the agent's assignment names: a group's rollout
   * targets are listed from the index (rolloutGroup) and these copies,
   * without decoding an agent. Copied into older documents by
   * ensureAgentIndexes.
   */
  targetVersion?: number;
  targetRollout?: string;
  /**
   * The key of the components the agent reported (componentsKeyOf): a
   * preflight reads components once per key, not per agent. Absent on
   * documents written before it was copied (a preflight reads those whole).
   */
  componentsKey?: string;
  /** The batch of writes that last wrote the document (mongo-write-batches.ts); absent until one did. */
  writeBatch?: string;
  proto: Binary;
}

interface ConnectionDocument {
  _id: string; // connection id
  gatewayId: string;
  proto: Binary;
}

interface GatewayLeaseDocument {
  _id: string; // gateway id
  expiresAt: number; // epoch ms
  epoch?: string; // the gateway process holding the lease; absent on leases from before epochs
  hold?: string; // names that process's unbroken hold (GatewayLeaseRenewal.hold); absent on leases from before holds
}

const AGENTS = "agents";
const CONNECTIONS = "connections";
const GATEWAY_LEASES = "gateway_leases";

// Revisions are int64 in the database; bigint on both sides avoids precision surprises.
const collectionOptions = { useBigInt64: true };

/** One index of the agents' index documents (AGENT_INDEX). */
export type AgentIndex = NamedIndex<AgentIndexDocument>;

/** The documents disconnected_agents holds: disconnected agents (each has a `disconnectedAt`, disconnectedSince). */
const DISCONNECTED = { connected: false } as const;
/** The documents labelled_agents holds: agents with a label. */
const LABELLED = { "labels.0": { $exists: true } } as const;

/**
 * The indexes of the agents' index documents (AGENT_INDEX), each named for
 * what it is. Every write of a row writes an entry in each index that holds
 * it, whether or not its keys changed: on FerretDB 2 (PostgreSQL, a new row
 * version and new entries for any update) the indexes were ~90 % of the
 * store's CPU per updated agent — 0.84 ms with all eight, 0.08 with `_id`
 * alone (docs/performance.md §42). So they are on a document written only
 * when its fields change (§45), and an index holds only the agents its
 * queries can find: the disconnected ones for retention and `connected:
 * false`, the labelled ones for label filters. The queries that use a
 * partial index name its filter themselves (disconnectedFilter,
 * labelsFilter), which is how MongoDB and PostgreSQL both tell the index
 * may serve them.
 */
export const AGENT_INDEXES: readonly AgentIndex[] = [
  // The reaper: the connected agents of a dead gateway.
  { name: "gatewayId_1", key: { gatewayId: 1 } },
  // Attribute filters (multikey: one entry per string attribute).
  { name: "attrs_1", key: { attrs: 1 } },
  // A namespace's agents in uid order (lists, group re-evaluation).
  { name: "namespace_1__id_1", key: { namespace: 1, _id: 1 } },
  // Label filters (multikey), over the agents that have labels.
  { name: "labelled_agents", key: { labels: 1 }, partialFilterExpression: LABELLED },
  // The retention sweep, oldest first, and ListAgents(connected: false): the disconnected agents.
  { name: "disconnected_agents", key: { disconnectedAt: 1, _id: 1 }, partialFilterExpression: DISCONNECTED },
  // A group's rollout targets in uid order.
  { name: "rolloutGroup_1_namespace_1__id_1", key: { rolloutGroup: 1, namespace: 1, _id: 1 } },
];

/**
 * Indexes earlier versions made on the agents collection itself, dropped at
 * start once every agent's index document is written: AGENT_INDEXES' own
 * names (their place before §45), `connected_1__id_1` (connected agents
 * are found in uid order, the disconnected through disconnected_agents),
 * and the labels and retention indexes that held every agent (before §42).
 */
export const REPLACED_AGENT_INDEXES: readonly string[] = [...AGENT_INDEXES.map((i) => i.name), "connected_1__id_1", "labels_1", "disconnectedAt_1__id_1"];

export interface EnsureAgentIndexesOptions {
  server: MongoServer;
  /** Where the count of index documents removed (left by deleted agents) is told. Default: not told. */
  logger?: Logger;
}

/**
 * Creates the indexes the queries below rely on (on the agents' index
 * documents), copies `disconnectedAt` and the rollout fields into agent
 * documents written before they were copied out, and moves a database
 * from the layout before §45 (the indexes on the agent documents
 * themselves) to this one. Run once at start-up by every replica: creating
 * an index that exists is a no-op, dropping one already gone is ignored,
 * and the copies find nothing the second time.
 *
 * Every start compares each agent's index document with the agent's own
 * copies and writes it where it is missing or differs (reconcileIndexDocuments):
 * that is the move from the earlier layout (no index documents yet), and
 * the repair of one a crash left behind between a save's two writes; and
 * it removes those whose agent is gone (a crash between a delete's two
 * writes: the leftovers, told in one line). Then
 * the earlier layout's indexes are dropped — after the copy, so a start
 * that dies half way moves again at the next. The copy only goes forward
 * (mongo-agent-index.ts), so replicas starting together, or one already
 * serving, never undo each other's newer writes. Replicas of the earlier
 * version must be stopped first: they write the agent documents without
 * the index documents (the next start of this version copies what they
 * wrote).
 */
export async function ensureAgentIndexes(db: Db, o: EnsureAgentIndexesOptions): Promise<void> {
  await guardMongo(async () => {
    await createNamedIndexes(db.collection<AgentIndexDocument>(AGENT_INDEX), AGENT_INDEXES, o.server);
    const agents = db.collection<AgentDocument>(AGENTS, collectionOptions);
    // One pass over the documents that lack either copy (on FerretDB every
    // start-up's look for them reads the collection), each agent decoded once.
    for await (const doc of agents.find({ $or: [{ disconnectedAt: { $exists: false } }, { rolloutGroup: { $exists: false } }] })) {
      const agent = decodeAgent(doc);
      // A save meanwhile wrote the fields itself: then the filter no longer matches.
      if (doc.disconnectedAt === undefined) await agents.updateOne({ _id: doc._id, disconnectedAt: { $exists: false } }, { $set: { disconnectedAt: disconnectedSince(agent) ?? null } });
      if (doc.rolloutGroup === undefined) await agents.updateOne({ _id: doc._id, rolloutGroup: { $exists: false } }, { $set: rolloutFieldsOf(agent) });
    }
    await reconcileIndexDocuments(db, agents, o);
    await dropIndexesIfPresent(agents, REPLACED_AGENT_INDEXES);
    await db.collection(CONNECTIONS).createIndex({ gatewayId: 1, _id: 1 });
  });
}

/** Index documents with no agent removed per delete by the start pass (reconcileIndexDocuments). */
const LEFTOVER_BATCH = 1_024;

/**
 * Writes each agent's index document where it is missing or its fields
 * differ from the agent document's copies (at the agent document's
 * revision, only forward, or over an earlier agent's: see
 * AgentIndexDocument). Both collections are read once, in `_id` order, side
 * by side — so an agent may be read before its index document (their
 * batches are read as each cursor needs one), which a write ordered by
 * revision and creation time does not mind, but the copy that replaces
 * exactly the document it read does (replacesAsRead: one above the agent's
 * revision): those agents are read again,
 * index documents first, LEFTOVER_BATCH at a time (writer.reconcile, as a
 * repair reads; an `$in` that FerretDB 1.x scans for, once a batch: they
 * are rare, a crash's). An index document the pass
 * meets with no agent beside it was left by a deleted agent (a crash
 * between a delete's two writes, or its second write lost) — or belongs
 * to an agent created after the agents cursor passed its uid: they are
 * removed, LEFTOVER_BATCH to a delete, each only as read and with its
 * agent read again after (mongo-agent-index.ts, deleteLeftovers, says
 * why that keeps the new agent's), and counted in one line at the end.
 */
async function reconcileIndexDocuments(db: Db, agents: Collection<AgentDocument>, o: EnsureAgentIndexesOptions): Promise<void> {
  const writer = createAgentIndexWriter(db, { server: o.server, repairFrom: db.collection<AgentIndexDocument>(AGENTS, collectionOptions) });
  const indexed = db.collection<AgentIndexDocument>(AGENT_INDEX, collectionOptions).find({}, { projection: INDEX_SOURCE_PROJECTION }).sort({ _id: 1 });
  const held = indexed[Symbol.asyncIterator]();
  let next = await held.next();
  let copies: Array<Promise<boolean>> = [];
  let leftovers: IndexLeftover[] = [];
  const left = { found: 0, removed: 0, withAgentAgain: 0 };
  const tally = (found: number, done: LeftoversRemoved) => {
    left.found += found;
    left.removed += done.removed;
    left.withAgentAgain += done.withAgentAgain;
  };
  const removeLeftovers = async () => {
    const batch = leftovers;
    leftovers = [];
    tally(batch.length, await writer.removeLeftovers(batch));
  };
  const leftOver = async (stored: AgentIndexDocument) => {
    leftovers.push({ _id: stored._id, revision: stored.revision });
    if (leftovers.length >= LEFTOVER_BATCH) await removeLeftovers();
  };
  /** Agents to read again, their index documents first (writer.reconcile), before a copy replaces another agent's. */
  let again: string[] = [];
  const reconcileAgain = async () => {
    const ids = again;
    again = [];
    if (ids.length === 0) return;
    const done = await writer.reconcile(ids);
    tally(done.found, done);
  };
  /** Moves the index cursor up to `before` (to its end when undefined): what it passes has no agent. */
  const passUpTo = async (before: string | undefined) => {
    while (!next.done && (before === undefined || next.value._id < before)) {
      await leftOver(next.value);
      next = await held.next();
    }
  };
  try {
    for await (const doc of agents.find({}, { projection: INDEX_SOURCE_PROJECTION }).sort({ _id: 1 })) {
      await passUpTo(doc._id);
      const stored = !next.done && next.value._id === doc._id ? next.value : undefined;
      if (stored) next = await held.next(); // the agent's own: not one to pass at the next agent
      const write = indexCopyOf(doc, stored);
      if (write?.over) {
        // Another agent's by what the two cursors read — but side by side they may have read this agent first
        // (its batch before the index documents'; MongoDB's getMore reads on live), and the index document may
        // then be this agent's next save's, or a later agent's of the uid: replaced, this agent's older fields
        // would undo it. So these (earlier agents' documents: rare) are read again, index documents first
        // (writer.reconcile), a batch at a time; the other writes are ordered by revision and creation time
        // (AGENT_INDEX_RULES), safe in either order.
        again.push(doc._id);
        if (again.length >= LEFTOVER_BATCH) await reconcileAgain();
        continue;
      }
      if (!write) continue;
      copies.push(writer.copy(write));
      if (copies.length >= 1_024) {
        await Promise.all(copies);
        copies = [];
      }
    }
    await passUpTo(undefined);
    await Promise.all(copies);
    await reconcileAgain();
    await removeLeftovers();
  } finally {
    await indexed.close();
  }
  if (left.found > 0) o.logger?.info(left, "removed the agents' index documents left by deleted agents");
}

/**
 * Agents in MongoDB with the same optimistic concurrency as the embedded
 * store: a save names the revision it read, and the write only happens when
 * the stored document still has that revision (checked by the database in
 * the same single-document write, so no transaction is needed).
 *
 * On FerretDB (`server`) the check is a look-up of the revision by `_id` and
 * the write is by `_id` (updateByIdWhile says why): with the one conditional
 * write every report's save cost the whole collection there, and the
 * 1,000-agent distributed rollout bench never got its agents answered (issue 12).
 */
export function createMongoAgentRepository(db: Db, o: { server?: MongoServer; logger?: Logger; indexRepairDelayMs?: number } = {}): AgentRepository {
  const agents = db.collection<AgentDocument>(AGENTS, collectionOptions);
  const index = db.collection<AgentIndexDocument>(AGENT_INDEX, collectionOptions);
  const indexWriter = createAgentIndexWriter(db, {
    server: o.server ?? "mongodb",
    repairFrom: db.collection<AgentIndexDocument>(AGENTS, collectionOptions),
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.indexRepairDelayMs !== undefined ? { repairDelayMs: o.indexRepairDelayMs } : {}),
  });
  /**
   * The conditional write of a known agent: on FerretDB 1.x a look-up and a
   * write by `_id` (updateByIdWhile says why); elsewhere (MongoDB, and
   * FerretDB 2, which connectMongo takes for MongoDB) the one conditional
   * write, gathered with those waiting beside it into one bulkWrite
   * (mongo-write-batches.ts).
   */
  const batches = o.server === "ferretdb" ? undefined : conditionalWriteBatches(agents);
  const updateAt = batches
    ? (uid: string, expected: bigint, fields: AgentStoredFields): Promise<boolean> => batches.write(uid, expected, fields, [sameAgentGuard(fields)])
    : async (uid: string, expected: bigint, fields: AgentStoredFields): Promise<boolean> =>
        (await updateByIdWhile(agents, "ferretdb", uid, knownAgentGuards(expected, fields), fields)).wrote;

  const repository: AgentRepository = {
    async get(uid) {
      const doc = await guardMongo(() => agents.findOne({ _id: uid }));
      return doc ? decodeAgent(doc) : undefined;
    },

    async listGroupTargets(namespace, group, page) {
      if (page.limit <= 0) return [];
      const filter: Filter<AgentDocument> = { rolloutGroup: group, ...namespaceFilter(namespace), ...(page.after !== undefined ? { _id: { $gt: page.after } } : {}) };
      const projection = { _id: 1, rolloutGroup: 1, namespace: 1, targetVersion: 1, targetRollout: 1, ...(page.components ? { componentsKey: 1 } : {}) };
      const keep = (doc: AgentDocument) => (doc.rolloutGroup === group && inNamespace(doc, namespace) ? doc : undefined);
      const docs = await guardMongo(() => throughIndex(index, agents, filter, inUidOrder(filter), { limit: page.limit, projection, keep }));
      return docs.map((doc) => ({
        uid: doc._id,
        version: Number(doc.targetVersion ?? 0),
        rollout: doc.targetRollout ?? "",
        ...(page.components ? { components: doc.componentsKey } : {}),
      }));
    },

    async listRevisions(query) {
      if (query.limit <= 0) return [];
      const ids = { ...(query.after !== undefined ? { $gt: query.after } : {}), ...(query.instanceUids !== undefined ? { $in: [...query.instanceUids] } : {}) };
      const filter: Filter<AgentDocument> = { ...namespaceFilter(query.namespace), ...(Object.keys(ids).length > 0 ? { _id: ids } : {}) };
      // The revision alone: the agent's blob is neither sent nor decoded. Named agents are read by
      // `_id` from their own documents; a namespace's pages through the namespace index.
      const docs = await guardMongo(() =>
        query.instanceUids !== undefined
          ? agents.find(filter, { projection: { _id: 1, revision: 1 } }).sort({ _id: 1 }).limit(query.limit).toArray()
          : throughIndex(index, agents, filter, inUidOrder(filter), { limit: query.limit, projection: { _id: 1, revision: 1, namespace: 1 }, keep: (doc) => (inNamespace(doc, query.namespace) ? doc : undefined) }),
      );
      return docs.map((doc) => ({ uid: doc._id, revision: BigInt(doc.revision) }));
    },

    async getNewer(uid, revision) {
      // Filtered on _id alone and compared here: FerretDB 1.x serves a lookup by _id
      // ~20 times faster than one that also filters another field (measured:
      // docs/performance.md §3); what this saves is decoding an unchanged agent.
      const doc = await guardMongo(() => agents.findOne({ _id: uid }));
      return doc && BigInt(doc.revision) > revision ? decodeAgent(doc) : undefined;
    },

    async save(agent) {
      const uid = instanceUidToHex(agent.metadata!.instanceUid);
      const expected = agent.revision;
      const fields = storedFieldsOf(agent);
      await guardMongo(async () => {
        if (expected === 0n) {
          // A new agent: the unique _id makes a concurrent creator lose.
          try {
            await agents.insertOne({ _id: uid, ...fields });
          } catch (err) {
            if (isDuplicateKey(err)) throw new RevisionConflictError(uid, expected);
            throw err;
          }
          return;
        }
        if (!(await updateAt(uid, expected, fields))) throw new RevisionConflictError(uid, expected);
      }).catch((err: unknown) => {
        // The store went away mid-write: the write may yet land, and its index document with it later.
        if (err instanceof DependencyUnavailableError) indexWriter.repairLater(uid, err);
        throw err;
      });
      // Stored: the agent's revision is the new one; its index document follows (repaired later if the store goes away).
      agent.revision = expected + 1n;
      await indexWriter.afterSave(uid, agent.revision, indexFieldsOf(fields));
    },

    async saveMany(batch) {
      const writes = batch.map((agent) => ({ agent, uid: instanceUidToHex(agent.metadata!.instanceUid), expected: agent.revision, fields: storedFieldsOf(agent) }));
      const wrote = await guardMongo(async () => {
        // MongoDB and FerretDB 2: the batch's conditional writes queue together and go out as bulkWrites (mongo-write-batches.ts).
        // Each write answers for itself: a failed bulkWrite fails only the writes it carried, and the
        // others' outcome must still reach the caller (they are stored; their pins' audit and push follow).
        if (batches) return Promise.all(writes.map((w) => guardMongo(() => updateAt(w.uid, w.expected, w.fields)).catch(asError)));
        // FerretDB 1.x: the revisions and creation times in one look-up, then one bulkWrite by _id of those that
        // still hold (updateByIdWhile's two steps and updateAt's guards, for the whole batch: two operations instead
        // of two per agent).
        const stored = await agents.find({ _id: { $in: writes.map((w) => w.uid) } }, { projection: { revision: 1, createdAt: 1 } }).toArray();
        const byId = new Map(stored.map((d) => [d._id, d]));
        const ok = writes.map((w) => {
          const doc = byId.get(w.uid);
          return w.expected > 0n && doc !== undefined && guardsHold(knownAgentGuards(w.expected, w.fields), doc);
        });
        const ops = writes.filter((_, i) => ok[i]).map((w) => updateByIdOp<AgentDocument>("ferretdb", { _id: w.uid }, { $set: w.fields }));
        if (ops.length > 0) await agents.bulkWrite(ops, { ordered: false });
        return ok;
      });
      writes.forEach((w, i) => {
        if (wrote[i] === true) w.agent.revision = w.expected + 1n;
        else if (wrote[i] instanceof DependencyUnavailableError) indexWriter.repairLater(w.uid, wrote[i]); // as save's
      });
      // Each written agent's index document after it (as save does: one the store could not take is repaired later).
      return Promise.all(
        wrote.map((written, i) => {
          const w = writes[i]!;
          return written === true ? indexWriter.afterSave(w.uid, w.agent.revision, indexFieldsOf(w.fields)).then(() => true, asError) : written;
        }),
      );
    },

    async delete(agent) {
      const uid = instanceUidToHex(agent.metadata!.instanceUid);
      const result = await guardMongo(() => agents.deleteOne({ _id: uid, revision: agent.revision })).catch((err: unknown) => {
        // The store went away mid-delete: the delete may yet land (a request the store had received), and then
        // its index document would be left; it is repaired later as a save's is (removed if the agent is gone).
        if (err instanceof DependencyUnavailableError) indexWriter.repairLater(uid, err);
        throw err;
      });
      if (result.deletedCount === 0) throw new RevisionConflictError(uid, agent.revision);
      // Then its index document. One left behind finds no agent in the queries that read it: with the store
      // away now it is removed once the store answers (afterDelete), after a crash between the two writes by
      // the next start (reconcileIndexDocuments), and the next agent of this uid replaces it at its first save.
      await indexWriter.afterDelete(uid);
    },
    async list(query: AgentQuery) {
      if (query.limit <= 0) return [];
      const filter: Filter<AgentDocument> = {};
      if (query.connected === true) filter.connected = true; // most agents: read in uid order, no index
      if (query.connected === false) Object.assign(filter, disconnectedFilter({ $gte: 0 }));
      if (query.gatewayId !== undefined) filter.gatewayId = query.gatewayId;
      if (query.namespace !== undefined) Object.assign(filter, namespaceFilter(query.namespace));
      const labels = Object.entries(query.labels ?? {}).map(([key, value]) => attributeEntry(key, value));
      if (labels.length > 0) Object.assign(filter, labelsFilter(labels));
      const attrs = Object.entries(query.attributes ?? {}).map(([key, value]) => attributeEntry(key, value));
      if (attrs.length > 0) filter.attrs = { $all: attrs };
      if (query.after !== undefined || query.instanceUids !== undefined) {
        filter._id = { ...(query.after !== undefined ? { $gt: query.after } : {}), ...(query.instanceUids !== undefined ? { $in: [...query.instanceUids] } : {}) };
      }

      const where = query.where;
      return guardMongo(async () => {
        if (query.instanceUids === undefined) {
          // The filter again on each agent (ListAgents' semantics, `where` with them). `where` may drop
          // agents, so the database cannot know how many to send: read on in larger pages until the page
          // is full or the matches run out, and never return a short page early.
          const keep = (doc: AgentDocument) => {
            const agent = decodeAgent(doc);
            return matchesAgentQuery(agent, query) ? agent : undefined;
          };
          return throughIndex(index, agents, filter, inUidOrder(filter), { limit: query.limit, ...(where ? { page: Math.min(Math.max(query.limit * 2, 100), 1_000) } : {}), keep });
        }
        // Named agents (a stage's, a cache's read-through): by `_id` from their own documents, filtered there.
        const cursor = agents.find(filter).sort({ _id: 1 });
        if (!where) cursor.limit(query.limit);
        const out: Agent[] = [];
        try {
          for await (const doc of cursor) {
            const agent = decodeAgent(doc);
            if (where && !where(agent)) continue;
            out.push(agent);
            if (out.length >= query.limit) break;
          }
        } finally {
          await cursor.close();
        }
        return out;
      });
    },

    async listDisconnected(query: DisconnectedQuery) {
      if (query.limit <= 0) return [];
      const before = disconnectedFilter({ $lt: query.before });
      const after = query.after;
      const from = (cursor: DisconnectedCursor | undefined): Filter<AgentDocument> =>
        cursor ? { $and: [before, { $or: [{ disconnectedAt: { $gt: cursor.since } }, { disconnectedAt: cursor.since, _id: { $gt: cursor.uid } }] }] } : before;
      // The range again on each agent, by the one rule (disconnectedSince) the copies come from.
      const keep = (doc: AgentDocument) => {
        const agent = decodeAgent(doc);
        const since = disconnectedSince(agent);
        if (since === undefined || since >= query.before) return undefined;
        return !after || since > after.since || (since === after.since && doc._id > after.uid) ? agent : undefined;
      };
      const order: IndexOrder = { sort: { disconnectedAt: 1, _id: 1 }, after: (last) => from({ since: Number(last.disconnectedAt), uid: last._id }) };
      return guardMongo(() => throughIndex(index, agents, from(after), order, { limit: query.limit, keep }));
    },

    async count() {
      // From the collection's metadata on MongoDB, not a scan of the documents.
      return guardMongo(() => agents.estimatedDocumentCount());
    },

    async countByNamespace() {
      // One group over the agent documents (each agent exactly once; the metrics read it at most every
      // few seconds); documents from before namespaces are "default".
      const groups = await guardMongo(() => agents.aggregate<{ _id: string | null; n: number }>([{ $group: { _id: "$namespace", n: { $sum: 1 } } }]).toArray());
      const out = new Map<string, number>();
      for (const g of groups) {
        const namespace = g._id || DEFAULT_NAMESPACE;
        out.set(namespace, (out.get(namespace) ?? 0) + g.n);
      }
      return out;
    },
    async summarize(namespace) {
      const match = namespace === undefined ? [] : [{ $match: namespaceFilter(namespace) }];
      // Two $group stages (supported by FerretDB 1.x): one over the few
      // status combinations, one over agent types, sorted and cut in the
      // database so a fleet of many versions does not come back whole.
      return guardMongo(async () => {
        const status = await agents
          .aggregate<{ _id: Partial<Record<"connected" | "healthy" | "configured", boolean | null>> & { configState?: number | null }; count: number }>([
            ...match,
            {
              $group: {
                _id: { connected: "$connected", healthy: "$healthy", configured: "$configured", configState: "$configState" },
                count: { $sum: 1 },
              },
            },
          ])
          .toArray();
        const types = await agents
          .aggregate<{ _id: { serviceName?: string | null; serviceVersion?: string | null }; count: number }>([
            ...match,
            { $group: { _id: { serviceName: "$serviceName", serviceVersion: "$serviceVersion" }, count: { $sum: 1 } } },
            { $sort: { count: -1, "_id.serviceName": 1, "_id.serviceVersion": 1 } },
            { $limit: MAX_AGENT_TYPES },
          ])
          .toArray();
        return buildFleetSummary(
          status.map((g) => ({
            connected: g._id.connected ?? false,
            healthy: g._id.healthy ?? false,
            configured: g._id.configured ?? false,
            configState: g._id.configState ?? RemoteConfigState.UNSET,
            count: Number(g.count),
          })),
          types.map((g) => ({ serviceName: g._id.serviceName ?? "", serviceVersion: g._id.serviceVersion ?? "", count: Number(g.count) })),
        );
      });
    },

    async ping() {
      await guardMongo(() => db.command({ ping: 1 }));
    },
  };
  return repository;
}

/** Connections in MongoDB, listed in id order like the embedded store. */
export function createMongoConnectionRepository(db: Db): ConnectionRepository {
  const connections = db.collection<ConnectionDocument>(CONNECTIONS);
  return {
    async save(connection) {
      const doc = { gatewayId: connection.gatewayId, proto: new Binary(toBinary(ConnectionSchema, connection)) };
      await guardMongo(() => upsertWithRetry(() => connections.replaceOne({ _id: connection.id }, doc, { upsert: true })));
    },
    async get(id) {
      const doc = await guardMongo(() => connections.findOne({ _id: id }));
      return doc ? fromBinary(ConnectionSchema, bytesOfBinary(doc.proto)) : undefined;
    },
    async delete(id) {
      await guardMongo(() => connections.deleteOne({ _id: id }));
    },
    async list({ gatewayId, limit, after }) {
      if (limit <= 0) return [];
      const filter: Filter<ConnectionDocument> = {};
      if (gatewayId) filter.gatewayId = gatewayId; // "" means every gateway, as in the embedded store
      if (after) filter._id = { $gt: after };
      const docs = await guardMongo(() => connections.find(filter).sort({ _id: 1 }).limit(limit).toArray());
      return docs.map((doc): Connection => fromBinary(ConnectionSchema, bytesOfBinary(doc.proto)));
    },
  };
}

/** Gateway leases in MongoDB (no TTL index: the reaper asks for expired ones and acts on them). */
export function createMongoGatewayLeaseRepository(db: Db): GatewayLeaseRepository {
  const leases = db.collection<GatewayLeaseDocument>(GATEWAY_LEASES);
  return {
    async renew(gatewayId, expiresAt, epoch, now, newHold) {
      // The common case, one write: this epoch's lease, not run out, extended.
      const held = await guardMongo(() =>
        leases.findOneAndUpdate({ _id: gatewayId, epoch, hold: { $exists: true }, expiresAt: { $gte: now } }, { $set: { expiresAt } }, { returnDocument: "after" }),
      );
      if (held?.hold) return { previousEpoch: epoch, hold: held.hold };
      // None, another epoch's, or one that ran out: this epoch's hold starts
      // again. The document as it was tells which epoch held it before.
      const before = await guardMongo(() =>
        upsertWithRetry(() => leases.findOneAndUpdate({ _id: gatewayId }, { $set: { expiresAt, epoch, hold: newHold } }, { upsert: true, returnDocument: "before" })),
      );
      return { previousEpoch: before?.epoch, hold: newHold };
    },
    async expired(now, limit) {
      if (limit <= 0) return [];
      const docs = await guardMongo(() =>
        leases.find({ expiresAt: { $lt: now } }, { projection: { _id: 1 } }).sort({ _id: 1 }).limit(limit).toArray(),
      );
      return docs.map((doc) => doc._id);
    },
    async release(gatewayId) {
      await guardMongo(() => leases.deleteOne({ _id: gatewayId }));
    },
    async releaseReaped(gatewayId, expiredBefore, newHold) {
      // One conditional delete: no window between the check and the delete.
      const { deletedCount } = await guardMongo(() => leases.deleteOne({ _id: gatewayId, expiresAt: { $lt: expiredBefore } }));
      // Kept: renewed meanwhile (or gone already: then nothing to restart).
      if (deletedCount === 0) await guardMongo(() => leases.updateOne({ _id: gatewayId }, { $set: { hold: newHold } }));
    },
  };
}

/** Everything a save writes of an agent: its next revision, the copies queries filter on, and the agent itself. */
function storedFieldsOf(agent: Agent) {
  return { revision: agent.revision + 1n, ...queryFieldsOf(agent), proto: new Binary(toBinary(AgentSchema, agent)) };
}

type AgentStoredFields = ReturnType<typeof storedFieldsOf>;

/**
 * The second condition of a known agent's write, beside its revision: the
 * document is still this agent's — its creation time, or none (a document
 * last saved before the copy existed; an agent without one). A revision
 * alone cannot tell: an agent deleted and created again (another replica)
 * counts its revisions from 1 again, so a replica still holding the deleted
 * agent (cut off long enough for it to be reaped, deleted and re-created
 * elsewhere) would write it over the new one once that reaches the same
 * revision — the agent document then the deleted agent's, its index
 * document following it (review H82). Refused, the write is a revision
 * conflict: the replica reads the agent afresh, as for any other.
 */
function sameAgentGuard(fields: Pick<AgentStoredFields, "createdAt">): WriteGuard<AgentDocument> {
  const created = fields.createdAt ?? 0;
  return { field: "createdAt", oneOf: created === 0 ? [0, null] : [created, 0, null] };
}

/** Both conditions of a known agent's write, for the writes that check them themselves (FerretDB 1.x's look-up); the batched write adds the revision's itself. */
function knownAgentGuards(expected: bigint, fields: Pick<AgentStoredFields, "createdAt">): WriteGuard<AgentDocument>[] {
  return [{ field: "revision", oneOf: [expected] }, sameAgentGuard(fields)];
}

function decodeAgent(doc: AgentDocument): Agent {
  const agent = fromBinary(AgentSchema, bytesOfBinary(doc.proto));
  agent.revision = BigInt(doc.revision);
  return agent;
}

/**
 * The copies of agent fields that ListAgents filters on (same semantics as
 * matchesAgentQuery) and that the fleet summary groups by.
 */
function queryFieldsOf(agent: Agent): Omit<AgentDocument, "_id" | "revision" | "proto"> {
  return {
    ...summaryFieldsOf(agent),
    gatewayId: agent.status?.gatewayId ?? "",
    attrs: [...agentStringAttributes(agent)].map(([key, value]) => attributeEntry(key, value)),
    namespace: namespaceOf(agent),
    labels: Object.entries(agent.metadata?.labels ?? {}).map(([key, value]) => attributeEntry(key, value)),
    disconnectedAt: disconnectedSince(agent) ?? null,
    ...rolloutFieldsOf(agent),
    createdAt: agent.metadata?.createdAt ? timestampMs(agent.metadata.createdAt) : 0,
  };
}

/** The copies a group's rollout-target listing reads (one rule with the embedded store's index: rolloutGroupOf). */
function rolloutFieldsOf(agent: Agent): Pick<AgentDocument, "rolloutGroup" | "targetVersion" | "targetRollout" | "componentsKey"> {
  const target = groupTargetOf(agent);
  return { rolloutGroup: rolloutGroupOf(agent) ?? null, targetVersion: target.version, targetRollout: target.rollout, componentsKey: componentsKeyOf(agent) };
}

/** The order an index query reads in, and where its next page starts. */
interface IndexOrder {
  sort: Sort;
  /** The query's filter for the index documents after `last` in `sort`'s order (the next page's). */
  after: (last: AgentIndexDocument) => Filter<AgentDocument>;
}

/** Uid order: the next page is the filter's with `_id` above the last one read (its own `_id` terms kept). */
function inUidOrder(filter: Filter<AgentDocument>): IndexOrder {
  const ids = (filter._id ?? {}) as Record<string, unknown>;
  return { sort: { _id: 1 }, after: (last) => ({ ...filter, _id: { ...ids, $gt: last._id } }) as Filter<AgentDocument> };
}

interface ThroughIndexOptions<T> {
  limit: number;
  /** Index documents read per page (and agent documents per read by `_id`). Default `limit`. */
  page?: number;
  /** What is read of each agent document. Default all of it. */
  projection?: Record<string, number>;
  /**
   * The query's filter checked again on the agent document (its own copies,
   * or the agent decoded): what to return for it, or undefined when it does
   * not match.
   */
  keep: (doc: AgentDocument) => T | undefined;
}

/**
 * The agents a query served by an index finds, in the index's order: the
 * index documents' ids read a page at a time (AGENT_INDEX: the indexes are
 * there), then that page's agent documents by `_id` alone, each checked
 * again by `keep` — an index document may lag its agent
 * (mongo-agent-index.ts says when), and the agent decides. Reads on until
 * `limit` are kept or the index runs out, so a dropped agent never makes a
 * page short. Each page is a query of its own with its limit (`order.after`
 * names where it starts): the store then reads only the page, where one
 * cursor without a limit had it sort every match for the first batch. The
 * agent documents are read by `_id` alone because that is the read every
 * server serves from its key (FerretDB 1.x reads the whole collection for a
 * filter with another field: updateByIdWhile).
 */
async function throughIndex<T>(
  index: Collection<AgentIndexDocument>,
  agents: Collection<AgentDocument>,
  filter: Filter<AgentDocument>,
  order: IndexOrder,
  o: ThroughIndexOptions<T>,
): Promise<T[]> {
  const page = Math.max(o.page ?? o.limit, 1);
  const keys = Object.fromEntries(Object.keys(order.sort).map((k) => [k, 1]));
  const out: T[] = [];
  for (let pageFilter = filter; ; ) {
    const found = await index.find(pageFilter as Filter<AgentIndexDocument>, { projection: keys }).sort(order.sort).limit(page).toArray();
    if (found.length === 0) return out;
    const ids = found.map((d) => d._id);
    const docs = await agents.find({ _id: { $in: ids } }, o.projection ? { projection: o.projection } : {}).toArray();
    const byId = new Map(docs.map((d) => [d._id, d]));
    for (const id of ids) {
      const doc = byId.get(id);
      const kept = doc && o.keep(doc);
      if (kept !== undefined) out.push(kept);
      if (out.length >= o.limit) return out;
    }
    if (found.length < page) return out;
    pageFilter = order.after(found[found.length - 1]!);
  }
}

/** Whether an agent document is in the namespace: "default" also holds documents written before namespaces existed (namespaceFilter). */
function inNamespace(doc: Pick<AgentDocument, "namespace">, namespace: string): boolean {
  return (doc.namespace || DEFAULT_NAMESPACE) === namespace;
}

/**
 * Disconnected agents whose `disconnectedAt` is in `range`: the documents
 * the disconnected_agents index holds, named by its own filter so the
 * database may serve the query from it. Every disconnected agent has a
 * `disconnectedAt` (disconnectedSince: ≥ 0), so `{ $gte: 0 }` is all of them.
 */
function disconnectedFilter(range: { $gte: number } | { $lt: number }): Filter<AgentDocument> {
  return { ...DISCONNECTED, disconnectedAt: range };
}

/** Agents with all these labels: the documents the labelled_agents index holds (any label), named by its own filter. */
function labelsFilter(labels: string[]): Filter<AgentDocument> {
  return { ...LABELLED, labels: { $all: labels } } as Filter<AgentDocument>;
}

/** A namespace's documents; "default" also holds documents written before namespaces existed. */
function namespaceFilter(namespace: string): Filter<AgentDocument> {
  return namespace === DEFAULT_NAMESPACE ? { namespace: { $in: [namespace, null as unknown as string] } } : { namespace };
}

/**
 * NUL separates key and value. Attribute keys are semantic-convention names
 * without NUL, so "a\0b"="c" colliding with "a"="b\0c" is not a real case.
 */
function attributeEntry(key: string, value: string): string {
  return `${key}\u0000${value}`;
}
