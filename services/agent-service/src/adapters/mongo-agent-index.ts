import { createHash } from "node:crypto";
import { MongoBulkWriteError, type AnyBulkWriteOperation, type Collection, type Db, type Filter } from "mongodb";
import { guardMongo, isDuplicateKey, updateByIdOp, type MongoServer } from "@fleetplane/platform-node/mongo";
import { DependencyUnavailableError, type Logger } from "@fleetplane/platform";
import { queuedBatches } from "./mongo-write-batches.js";
import { RepairQueue } from "./repair-queue.js";

/**
 * The collection of the agents' indexed fields: one small document per
 * agent, beside the agent's own document (the `agents` collection, `_id`
 * its only index). On FerretDB 2 every write of a row writes an entry in
 * every index of its collection, whatever changed: with the indexes on the
 * agent's own document they were ~90 % of the store's CPU per saved agent
 * (docs/performance.md §42), for fields that a rollout's pin and an agent's
 * report never change. Here they are written only when they change
 * (docs/performance.md §45).
 */
export const AGENT_INDEX = "agent_index";

/** What the agents' indexes serve: the copies ListAgents, retention, the reaper and a group's rollout targets filter on. */
export interface AgentIndexFields {
  connected: boolean;
  gatewayId: string;
  /** String attributes (identifying and non-identifying) as `key + "\0" + value`: a filter is array membership. */
  attrs: string[];
  /** The agent's namespace; absent on documents written before namespaces existed (read as "default"). */
  namespace?: string;
  /** Admin labels as `key + "\0" + value`, like attrs. */
  labels?: string[];
  /** disconnectedSince (epoch ms), the retention sweep's key; null while connected. */
  disconnectedAt?: number | null;
  /** The group whose rollouts may move the agent (rolloutGroupOf), null when none may. */
  rolloutGroup?: string | null;
  /**
   * The agent's creation time (its metadata's createdAt, epoch ms; 0 when it
   * has none), which no save changes: it orders this agent's index document
   * after one an earlier agent of the same uid left, and before a later
   * agent's (AGENT_INDEX_RULES). Not indexed.
   * Absent on documents written before it was copied.
   */
  createdAt?: number;
}

/**
 * An agent's index document: its indexed fields as its agent document held
 * them at `revision`. A save writes the agent's document first and this one
 * after, only ever forward (`revision` above the stored one): a write that
 * comes late (another replica's, of an older revision) never undoes a newer
 * one. Across agents of one uid (one deleted, then one created again) the
 * order is the agents' creation times: any write of an agent replaces a
 * document an earlier agent left (a crash between a delete's two writes),
 * whatever its revision; a later agent's only forward, as its own
 * (AGENT_INDEX_RULES says why). A document without a
 * creation time (written before it was copied) is replaced only forward,
 * or by a new agent's first save, or by a copy (indexCopyOf) exactly as
 * read; with no agent it is removed as read (removeLeftovers). Between
 * the two writes, after a failed second write, and after a crash between
 * them, it may lag its agent: the queries that read it check their filter
 * again on the agent's own document; one whose write failed with the store
 * away is written from its agent's document once the store answers
 * (RepairQueue), and after a crash the next save of the agent writes it
 * again (this process's record of it is gone, or names an older revision),
 * or the next start (ensureAgentIndexes).
 */
export interface AgentIndexDocument extends AgentIndexFields {
  _id: string; // hex instance UID
  revision: bigint | number;
}

/** The indexed fields of an agent document (or of what a save writes), in a fixed order: the record's digest depends on it. */
export function indexFieldsOf(doc: AgentIndexFields): AgentIndexFields {
  return {
    connected: doc.connected,
    gatewayId: doc.gatewayId,
    attrs: doc.attrs,
    ...(doc.namespace !== undefined ? { namespace: doc.namespace } : {}),
    ...(doc.labels !== undefined ? { labels: doc.labels } : {}),
    ...(doc.disconnectedAt !== undefined ? { disconnectedAt: doc.disconnectedAt } : {}),
    ...(doc.rolloutGroup !== undefined ? { rolloutGroup: doc.rolloutGroup } : {}),
    ...(doc.createdAt !== undefined ? { createdAt: Number(doc.createdAt) } : {}),
  };
}

export interface AgentIndexWriterOptions {
  server: MongoServer;
  /**
   * Agents whose index document this process remembers (what it holds, as of
   * which revision) at most; the oldest remembered is forgotten first, and a
   * forgotten agent's next save writes its index document again. Default
   * 20,000 (~2.5 MB): the agents one replica saves in a rollout.
   */
  remember?: number;
  /**
   * The agent documents, to repair from: an index document whose write
   * failed because the store was away is written again from its agent's
   * document once the store answers, or removed if the agent is gone
   * (RepairQueue). Without: such a failure rejects (ensureAgentIndexes'
   * copy, which a start runs again anyway), and removeLeftovers cannot be
   * used (it reads the agents again).
   */
  repairFrom?: Collection<AgentIndexDocument>;
  /** Where a repair waiting for the store is told, rate-limited. */
  logger?: Logger;
  /** Delay before the first repair after a failed write (RepairQueue; default 500 ms, doubling to 10 s while it fails). */
  repairDelayMs?: number;
}

/** The fields an index copy reads, of an agent document or of an index document (AgentIndexDocument: both have them). */
export const INDEX_SOURCE_PROJECTION = { revision: 1, connected: 1, gatewayId: 1, attrs: 1, namespace: 1, labels: 1, disconnectedAt: 1, rolloutGroup: 1, createdAt: 1 } as const;

/**
 * The write that makes `stored` (the agent's index document, if any, read
 * before the agent document `doc`) match `doc`, or undefined when it does:
 * at the agent's revision, overwriting what AGENT_INDEX_RULES lets it (this
 * agent's below that revision, an earlier agent's by creation time) and,
 * where that one is above its revision (replacesAsRead), the document it
 * read, as read: one that moved on since (another replica's save of the
 * agent, landed between the read and this write) is left, being newer than
 * what this copy read.
 */
export function indexCopyOf(doc: AgentIndexDocument, stored: AgentIndexDocument | undefined): IndexWrite | undefined {
  const fields = indexFieldsOf(doc);
  if (stored && JSON.stringify(indexFieldsOf(stored)) === JSON.stringify(fields)) return undefined;
  const revision = BigInt(doc.revision);
  if (!stored || !replacesAsRead(doc, stored)) return { id: doc._id, revision, fields };
  return { id: doc._id, revision, fields, over: { read: { revision: stored.revision, ...(stored.createdAt !== undefined ? { createdAt: stored.createdAt } : {}) } } };
}

/**
 * Whether a copy of the agent document `doc` must name the index document
 * `stored`, read before it, to replace it (IndexWrite.over.read): when
 * `stored` is above the agent's revision. A save writes its agent and then
 * its index document, so one read first at a revision above the agent's
 * read after it is an earlier agent's (read in the other order, it may be
 * this agent's next save: the start pass reads such an agent again,
 * reconcileIndexDocuments) — that one as read only: an index document
 * written since may be of a later agent of the uid, created meanwhile.
 * The name counts only where creation times cannot order the two (either
 * has none); where both have one, the write's rule orders them
 * (AGENT_INDEX_RULES), and the start pass's second read costs a crash's
 * leftovers only.
 */
function replacesAsRead(doc: Pick<AgentIndexDocument, "revision">, stored: Pick<AgentIndexDocument, "revision">): boolean {
  return BigInt(stored.revision) > BigInt(doc.revision);
}

const DEFAULT_REMEMBER = 20_000;

/**
 * Writes the agents' index documents, and remembers, per agent, the one it
 * last wrote: the agent's revision and a digest of the fields. A save that
 * replaces exactly that revision with the same fields skips the write — the
 * document holds them, since nobody else can have written the agent between
 * (its revision would have moved) and no late write can undo it (writes only
 * go forward). Any doubt (forgotten, another revision, a failed write) means
 * a write. The record is this process's, not a digest in the agent's
 * document: a digest there would be written before the index document and
 * claim it after a crash between the two, and the stale document would then
 * never be repaired.
 */
export function createAgentIndexWriter(db: Db, o: AgentIndexWriterOptions) {
  const index = db.collection<AgentIndexDocument>(AGENT_INDEX, { useBigInt64: true });
  const known = new KnownIndexDocuments(o.remember ?? DEFAULT_REMEMBER);
  const batches = queuedBatches<IndexWrite, boolean>((batch) => (o.server === "ferretdb" ? writeByIdAfterLookup(index, batch) : writeForward(index, batch)));
  const source = o.repairFrom;

  /**
   * Writes the index documents of `ids` from their agent documents as stored
   * now (indexCopyOf: where missing or different). Returns how many of
   * them have an agent, and the index documents among them with no agent
   * (not touched).
   */
  const copyFromAgents = async (agents: Collection<AgentIndexDocument>, ids: readonly string[]): Promise<{ withAgent: number; leftovers: AgentIndexDocument[] }> => {
    // One id by equality: FerretDB 1.x scans the collection for an `$in` (~7× a delete's cost at 3,200 agents).
    const filter: Filter<AgentIndexDocument> = ids.length === 1 ? { _id: ids[0]! } : { _id: { $in: [...ids] } };
    // The index documents first, then the agents, one after the other: a save writes its agent and then its
    // index document, so an index document read here at a revision above its agent's, read after it, can only
    // be an earlier agent's (replaced: indexCopyOf). Read together, a save between the two reads showed a newer
    // index document over the older agent, which the copy then replaced with the older fields.
    const held = await guardMongo(() => index.find(filter, { projection: INDEX_SOURCE_PROJECTION }).toArray());
    const docs = await guardMongo(() => agents.find(filter, { projection: INDEX_SOURCE_PROJECTION }).toArray());
    const stored = new Map(held.map((d) => [d._id, d]));
    await Promise.all(docs.map((doc) => indexCopyOf(doc, stored.get(doc._id))).flatMap((w) => (w ? [batches.call(w)] : [])));
    const found = new Set(docs.map((d) => d._id));
    return { withAgent: docs.length, leftovers: held.filter((d) => !found.has(d._id)) };
  };

  /**
   * Removes index documents read with no agent (`leftovers`: each `_id` and
   * the revision it was read at), in one delete; then reads their agents
   * again and writes the index document of each that exists now.
   *
   * Why both steps. The read that found no agent is already past when the
   * delete runs, and an agent of that uid may be created in between (a
   * save, here or on another replica; or an agent the start pass's agents
   * cursor had passed before it was created): its first save writes the
   * agent and then its index document, replacing the leftover, possibly at
   * the leftover's very revision (one deleted at revision 1 leaves revision
   * 1, and a first save is revision 1). So the delete is conditional on the
   * revision read — an index document that moved on since is not taken —
   * but that cannot tell a new agent's revision-1 document from the
   * leftover, and no single write can check a document of another
   * collection. Hence the read after: an agent whose index document the
   * delete took was created before the delete, so the read, which comes
   * after the delete, sees it, and its index document is written again
   * (forward only, replacing one above its revision: indexCopyOf); an agent
   * the read does not see is created after it, so after the delete, and its
   * own first save writes its index document after the delete too. Either
   * way the agent keeps an index document, at worst missing from the
   * indexed queries for the moment between the delete and the write. The
   * write may itself leave a leftover (the agent deleted again between the
   * read and the write): found by no query, as before, and removed by the
   * next start.
   */
  const deleteLeftovers = async (agents: Collection<AgentIndexDocument>, leftovers: readonly IndexLeftover[]): Promise<LeftoversRemoved> => {
    if (leftovers.length === 0) return { removed: 0, withAgentAgain: 0 };
    const ids = leftovers.map((l) => l._id);
    // One branch per revision met, each naming its `_id`s: every branch is served by the `_id` index, and a
    // branch per leftover cost FerretDB 1.x (which checks each branch on each document it reads) 1.5 s a batch.
    const byRevision = new Map<string, { revision: bigint | number; ids: string[] }>();
    for (const l of leftovers) {
      const key = String(l.revision);
      const group = byRevision.get(key) ?? byRevision.set(key, { revision: l.revision, ids: [] }).get(key)!;
      group.ids.push(l._id);
    }
    const filter = { $or: [...byRevision.values()].map((g) => ({ _id: { $in: g.ids }, revision: g.revision })) } as Filter<AgentIndexDocument>;
    const { deletedCount } = await guardMongo(() => index.deleteMany(filter));
    // This process's record of any of them (an agent created meanwhile) may name a document just deleted.
    for (const id of ids) known.forget(id);
    const { withAgent } = await copyFromAgents(agents, ids);
    return { removed: deletedCount, withAgentAgain: withAgent };
  };

  /** copyFromAgents, then the leftovers it met removed (deleteLeftovers): the agents' index documents made right, in the order that is safe. */
  const reconcile = async (agents: Collection<AgentIndexDocument>, ids: readonly string[]): Promise<LeftoversRemoved & { found: number }> => {
    const { leftovers } = await copyFromAgents(agents, ids);
    return { found: leftovers.length, ...(await deleteLeftovers(agents, leftovers)) };
  };

  const repairs = source
    ? new RepairQueue({
        what: "agents' index documents",
        ...(o.logger ? { logger: o.logger } : {}),
        ...(o.repairDelayMs !== undefined ? { delayMs: o.repairDelayMs } : {}),
        // As ensureAgentIndexes' pass, for these agents: from what their documents hold now; an index document
        // whose agent is gone (a delete's second write failed) is removed.
        repair: async (ids) => {
          await reconcile(source, ids);
        },
      })
    : undefined;

  return {
    /**
     * After a save stored the agent at `revision`: writes its index document
     * unless this process wrote or confirmed `fields` at `revision - 1`.
     * When the store is away (and `repairFrom` given) it resolves all the
     * same, the agent queued for a repair (repairLater): the agent is
     * stored, so its save succeeded, and a caller told otherwise would undo
     * in memory what the store holds (a report answered "retry" that changes
     * nothing the second time would never write the index document again).
     * Until the repair, queries through the index may miss the agent
     * (AgentIndexDocument). Other errors reject.
     */
    async afterSave(id: string, revision: bigint, fields: AgentIndexFields): Promise<void> {
      const digest = digestOf(fields);
      if (known.holds(id, revision - 1n, digest)) {
        known.set(id, revision, digest);
        return;
      }
      known.forget(id);
      try {
        // A new agent's first may also replace a document without a creation time (IndexWrite.over). false:
        // this agent's is there at a newer revision already (another replica's save), or a later agent's of
        // the uid (this agent is deleted); nothing to remember.
        if (await batches.call({ id, revision, fields, ...(revision === 1n ? { over: FIRST_SAVE } : {}) })) known.set(id, revision, digest);
      } catch (err) {
        if (!repairs || !(err instanceof DependencyUnavailableError)) throw err;
        repairs.add(id, err);
      }
    },
    /**
     * The agent's own write (a save or a delete) failed because the store
     * was away, and may yet land (a request the store had received): its
     * index document is repaired once the store answers (written from the
     * agent, or removed if there is none). No-op without `repairFrom`.
     */
    repairLater(id: string, err: unknown): void {
      known.forget(id);
      repairs?.add(id, err);
    },
    /**
     * Writes an index document as indexCopyOf makes it from an agent document as stored (ensureAgentIndexes'
     * copy): only forward or over an earlier agent's document (AGENT_INDEX_RULES), or over exactly the one it
     * read (`over`). false: not written (a newer one is there, or the one read moved on).
     */
    copy(write: IndexWrite): Promise<boolean> {
      return batches.call(write);
    },
    /**
     * The agent is deleted: its index document goes too, and its next save, if it comes back, writes a new one;
     * an agent of that uid created again meanwhile (another replica) gets its own written back (the read after).
     * When the store is away (and `repairFrom` given) it resolves all the same, the index document removed
     * by a repair once the store answers (the agent is gone, so the delete is done; its caller's audit of the
     * agent's last commands must still follow). Without `repairFrom` such a failure is ignored: the index
     * document is left, found by no query (the queries read the agent again), until the next start removes it.
     * Other errors of the index document's delete reject; any failure of the read after goes to the repair
     * queue (the delete is done by then), which reads the same way until it succeeds.
     */
    async afterDelete(id: string): Promise<void> {
      known.forget(id);
      try {
        await guardMongo(() => index.deleteOne({ _id: id }));
      } catch (err) {
        if (!(err instanceof DependencyUnavailableError)) throw err;
        repairs?.add(id, err);
        return;
      }
      if (!source) return;
      // The agent may have come back meanwhile (a reconnect saved on another replica between the agent's
      // delete and this one), its first save's index document then taken by this delete, and that
      // replica's next save of the same fields writes none (it wrote that one). Read again, as
      // deleteLeftovers does: an agent there now gets its index document back. The agent is deleted
      // whatever this read meets: a failure of it is the repair queue's (which reads the same way), not
      // the delete's.
      try {
        await copyFromAgents(source, [id]);
      } catch (err) {
        repairs?.add(id, err);
      }
    },
    /**
     * Removes index documents found with no agent (ensureAgentIndexes' pass), as read (`_id` and revision):
     * one delete for them all, then their agents read again (deleteLeftovers says why). Needs `repairFrom`.
     */
    removeLeftovers(leftovers: readonly IndexLeftover[]): Promise<LeftoversRemoved> {
      if (!source) throw new TypeError("removeLeftovers reads the agents again: create the writer with repairFrom");
      return deleteLeftovers(source, leftovers);
    },
    /**
     * Makes the index documents of `ids` right from their agents as a repair does: their index documents
     * read first, then their agents (copyFromAgents says why that order), each copied where it differs, and
     * those with no agent removed as removeLeftovers does (`found` of them, `removed` taken). The start pass
     * hands it the agents whose copy would replace another agent's document. Needs `repairFrom`.
     */
    reconcile(ids: readonly string[]): Promise<LeftoversRemoved & { found: number }> {
      if (!source) throw new TypeError("reconcile reads the agents: create the writer with repairFrom");
      return reconcile(source, ids);
    },
  };
}

/** An index document read with no agent: its `_id` and the revision it held then. */
export type IndexLeftover = Pick<AgentIndexDocument, "_id" | "revision">;

export interface LeftoversRemoved {
  /** Index documents deleted. */
  removed: number;
  /** Of the uids, those with an agent when read again after the delete (created meanwhile): their index documents written from it. */
  withAgentAgain: number;
}

export type AgentIndexWriter = ReturnType<typeof createAgentIndexWriter>;

/** IndexWrite.over of a new agent's first save (afterSave at revision 1). */
const FIRST_SAVE = "first save";

/** One write of an index document: the agent's fields at `revision`. */
export interface IndexWrite {
  id: string;
  revision: bigint;
  /** Their `createdAt` (0 or absent: the agent has none) orders this write against a document of another agent of the uid (AGENT_INDEX_RULES). */
  fields: AgentIndexFields;
  /**
   * What it may overwrite besides what every write may (AGENT_INDEX_RULES:
   * any document below `revision`, an earlier agent's at any),
   * each for a reason:
   * - FIRST_SAVE, a new agent's first save: also a document without a
   *   createdAt at any revision (left by an agent saved before createdAt
   *   was copied; this agent's own cannot be one, no save of it having
   *   come before) — and, for an agent without a createdAt, which cannot be
   *   told from another, anything.
   * - `read`, a copy: also exactly the document it read (that revision and
   *   createdAt) where creation times cannot order the two (either has
   *   none), not one written since.
   */
  over?: typeof FIRST_SAVE | { read: Pick<AgentIndexDocument, "revision" | "createdAt"> };
}

/** A creation time as stored or read (int32, double, Long read as bigint, null, absent) as epoch ms: 0 for none. */
function createdOf(doc: Pick<AgentIndexFields, "createdAt">): number {
  return Number(doc.createdAt ?? 0);
}

/**
 * A stored document one branch of AGENT_INDEX_RULES lets a write overwrite: its creation time and its revision
 * each as said (undefined: any).
 */
interface Overwritable {
  /** "none": without one (absent, null or 0); `below`: nonzero and below that; a number: exactly that. */
  createdAt?: "none" | { below: number } | number;
  /** "below": below the write's (only forward); a revision: exactly that. */
  revision?: "below" | bigint | number;
}

/**
 * The rule of what an index write may overwrite (IndexWrite), as the stored
 * documents it may (`overwritable`), in the two forms the writers need: as
 * the filter the store checks in the write itself (MongoDB, FerretDB 2) and
 * as a check of a document looked up before (FerretDB 1.x). Both read the
 * one list: one rule.
 *
 * A write of an agent created at `c` (nonzero) overwrites:
 * - any document below its revision (only forward), as every write does;
 * - an earlier agent's document (createdAt nonzero and below `c`), whatever
 *   its revision: a delete that lost its second write left it, and no
 *   write of this agent, first or not, may give way to it (refused, the
 *   earlier agent's fields would stand for this agent, found by the wrong
 *   queries, until a save passes their revision);
 * - a later agent's (createdAt above `c`) only forward, like its own. Such a
 *   write is a late one of a deleted agent, and it comes after its agent
 *   document's write succeeded: the agent document's save checks only the
 *   revision, so a stale replica's save of the deleted agent can land over
 *   the agent created again — and then the agent document holds its fields,
 *   which the index document must follow (refused, it would contradict its
 *   agent for good: not even a start pass's copy could replace it; review
 *   H82). A late index write whose agent document did not win (one delayed
 *   past a delete and a re-creation) may so land over the re-created
 *   agent's at a lower revision: that agent's next save, or the next start
 *   pass, replaces it (an earlier agent's, whatever its revision);
 * - one without a createdAt only forward: it may be this agent's own,
 *   written by an older binary (a rolling upgrade). Except a first save:
 *   IndexWrite.over.
 * Creation times come from the clocks of the replicas that created the
 * agents (agent-model's `now`), which may be skewed. The order only
 * compares two agents of one uid, the second created after the first was
 * deleted — an admin's call or the retention sweep, then a reconnect:
 * seconds at least, against the milliseconds NTP keeps replicas apart. A
 * skew larger than that would take the re-created agent for an earlier one:
 * its index writes over the leftover only forward, the indexed queries
 * would miss it until a save passes the leftover's revision.
 * A write of an agent without a createdAt goes by revision only (and what
 * IndexWrite.over allows).
 */
const AGENT_INDEX_RULES = {
  overwritable(w: IndexWrite): Overwritable[] {
    const created = createdOf(w.fields);
    const read = typeof w.over === "object" ? w.over.read : undefined;
    if (created === 0) {
      if (w.over === FIRST_SAVE) return [{}];
      return [{ revision: "below" }, ...(read ? [{ createdAt: createdOf(read) || "none", revision: read.revision } as const] : [])];
    }
    return [
      { revision: "below" },
      { createdAt: { below: created } },
      ...(w.over === FIRST_SAVE ? [{ createdAt: "none" } as const] : []),
      // Where the read document has a creation time, the order above decides.
      ...(read && createdOf(read) === 0 ? [{ createdAt: "none", revision: read.revision } as const] : []),
    ];
  },
  filter(w: IndexWrite): Filter<AgentIndexDocument> {
    const branches = AGENT_INDEX_RULES.overwritable(w).map((o) => ({
      // `null` matches a document without the field too.
      ...(o.createdAt === "none" ? { createdAt: { $in: [null, 0] } } : typeof o.createdAt === "object" ? { createdAt: { $lt: o.createdAt.below, $ne: 0 } } : o.createdAt !== undefined ? { createdAt: o.createdAt } : {}),
      ...(o.revision === "below" ? { revision: { $lt: w.revision } } : o.revision !== undefined ? { revision: o.revision } : {}),
    }));
    return (branches.length === 1 ? { _id: w.id, ...branches[0] } : { _id: w.id, $or: branches }) as Filter<AgentIndexDocument>;
  },
  overwrites(w: IndexWrite, stored: Pick<AgentIndexDocument, "revision" | "createdAt"> | undefined): boolean {
    if (!stored) return true;
    const created = createdOf(stored);
    const revision = BigInt(stored.revision);
    return AGENT_INDEX_RULES.overwritable(w).some(
      (o) =>
        (o.createdAt === undefined || (o.createdAt === "none" ? created === 0 : typeof o.createdAt === "object" ? created !== 0 && created < o.createdAt.below : created === o.createdAt)) &&
        (o.revision === undefined || (o.revision === "below" ? revision < w.revision : revision === BigInt(o.revision))),
    );
  },
};

/**
 * MongoDB and FerretDB 2: one unordered bulkWrite of upserts filtered on what
 * each may overwrite (AGENT_INDEX_RULES). Where a document it may not is
 * there, the upsert's insert meets the `_id` (E11000): not written, and
 * right so.
 */
async function writeForward(index: Collection<AgentIndexDocument>, batch: readonly IndexWrite[]): Promise<boolean[]> {
  const ops = batch.map((w): AnyBulkWriteOperation<AgentIndexDocument> => updateByIdOp("mongodb", AGENT_INDEX_RULES.filter(w), { $set: { ...w.fields, revision: w.revision } }, { upsert: true }));
  try {
    await guardMongo(() => index.bulkWrite(ops, { ordered: false }));
    return batch.map(() => true);
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError)) throw err;
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    if (errors.some((e) => e.code !== 11000)) throw err;
    const newer = new Set(errors.map((e) => e.index));
    return batch.map((_, i) => !newer.has(i));
  }
}

/**
 * FerretDB 1.x: the stored documents' revisions and creation times read by
 * `_id`, then a bulkWrite by `_id` of those each may overwrite
 * (AGENT_INDEX_RULES; updateByIdWhile says why not a filter; FerretDB 1.x
 * checks no write against another anyway).
 */
async function writeByIdAfterLookup(index: Collection<AgentIndexDocument>, batch: readonly IndexWrite[]): Promise<boolean[]> {
  const stored = await guardMongo(() => index.find({ _id: { $in: batch.map((w) => w.id) } }, { projection: { revision: 1, createdAt: 1 } }).toArray());
  const byId = new Map(stored.map((d) => [d._id, d]));
  const forward = batch.map((w) => AGENT_INDEX_RULES.overwrites(w, byId.get(w.id)));
  const ops = batch.filter((_, i) => forward[i]).map((w) => updateByIdOp<AgentIndexDocument>("ferretdb", { _id: w.id }, { $set: { ...w.fields, revision: w.revision } }, { upsert: true }));
  if (ops.length === 0) return forward;
  return guardMongo(async () => {
    try {
      await index.bulkWrite(ops, { ordered: false });
      return forward;
    } catch (err) {
      // Two upserts of one new document (a save and another replica's copy at start): the other's insert won.
      // Which of the batch's writes went is not told: none is taken as written, so none is remembered.
      if (!isDuplicateKey(err)) throw err;
      return batch.map(() => false);
    }
  });
}

/** The record createAgentIndexWriter keeps: per agent, `revision:digest` of the index document it knows, the oldest forgotten first. */
class KnownIndexDocuments {
  private readonly entries = new Map<string, string>();

  constructor(private readonly capacity: number) {}

  holds(id: string, revision: bigint, digest: string): boolean {
    return this.entries.get(id) === `${revision}:${digest}`;
  }

  set(id: string, revision: bigint, digest: string): void {
    this.entries.delete(id); // to the end of the insertion order: the newest
    this.entries.set(id, `${revision}:${digest}`);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  forget(id: string): void {
    this.entries.delete(id);
  }
}

/** A digest of the fields, not the fields: 27 characters an agent, whatever its attributes. */
function digestOf(fields: AgentIndexFields): string {
  return createHash("sha1").update(JSON.stringify(fields)).digest("base64");
}
