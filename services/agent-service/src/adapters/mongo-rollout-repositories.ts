import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { RolloutSchema, type Rollout } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { bytesOfBinary, guardMongo, isDuplicateKey } from "@fleetplane/platform-node/mongo";
import { Binary, type Db, type Filter } from "mongodb";
import type { RolloutLeaseRepository, RolloutRepository } from "../rollouts/rollout-repository.js";

/**
 * Rollouts and their leases in MongoDB (or FerretDB). Everything that must
 * be decided once across replicas — a group's slot, a decision's number, a
 * lease's term — is an insert under a unique _id: FerretDB 1.x enforces
 * those, while two concurrent conditional updates were seen to both match.
 */

interface StateDocument {
  _id: string; // "<id>/<sequence, zero-padded>"
  rolloutId: string;
  sequence: number;
  proto: Binary;
}

interface RolloutDocument {
  _id: string; // rollout id (a UUIDv7: sorts by start time)
  namespace: string;
  group: string;
}

interface SlotDocument {
  _id: string; // "<namespace>/<group>"
  namespace: string;
  group: string;
  rolloutId: string;
}

interface LeaseDocument {
  _id: string; // "<id>/<term, zero-padded>"
  rolloutId: string;
  term: number;
  holder: string;
  expiresAt: number;
}

const STATES = "rollout_states";
const ROLLOUTS = "rollouts";
const SLOTS = "rollout_slots";
const LEASES = "rollout_leases";
const padded = (n: number | bigint) => String(n).padStart(12, "0");

/** Inserts a document; false when its _id is taken. */
async function insertOnce<T extends { _id: string }>(collection: { insertOne(doc: never): Promise<unknown> }, doc: T): Promise<boolean> {
  try {
    await collection.insertOne(doc as never);
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

/** Creates the indexes the queries below rely on (one per call: FerretDB 1.x). */
export async function ensureRolloutIndexes(db: Db): Promise<void> {
  await guardMongo(async () => {
    await db.collection(STATES).createIndex({ rolloutId: 1, sequence: -1 });
    await db.collection(ROLLOUTS).createIndex({ namespace: 1, _id: -1 });
    await db.collection(LEASES).createIndex({ rolloutId: 1, term: -1 });
  });
}

export function createMongoRolloutRepository(db: Db): RolloutRepository {
  const states = db.collection<StateDocument>(STATES);
  const rollouts = db.collection<RolloutDocument>(ROLLOUTS);
  const slots = db.collection<SlotDocument>(SLOTS);
  const stateDoc = (r: Rollout): StateDocument => ({ _id: `${r.id}/${padded(r.sequence)}`, rolloutId: r.id, sequence: Number(r.sequence), proto: new Binary(toBinary(RolloutSchema, r)) });
  const latest = async (id: string) => {
    const [doc] = await states.find({ rolloutId: id }).sort({ sequence: -1 }).limit(1).toArray();
    return doc ? fromBinary(RolloutSchema, bytesOfBinary(doc.proto)) : undefined;
  };
  return {
    async create(rollout) {
      return guardMongo(async () => {
        // The decision and the index first, the slot last: a slot always
        // names a rollout that can be read. Losing the slot undoes the rest.
        await states.insertOne(stateDoc(rollout));
        await rollouts.insertOne({ _id: rollout.id, namespace: rollout.namespace, group: rollout.group });
        if (await insertOnce(slots, { _id: `${rollout.namespace}/${rollout.group}`, namespace: rollout.namespace, group: rollout.group, rolloutId: rollout.id })) return true;
        await rollouts.deleteOne({ _id: rollout.id });
        await states.deleteMany({ rolloutId: rollout.id });
        return false;
      });
    },
    async record(rollout) {
      return guardMongo(() => insertOnce(states, stateDoc(rollout)));
    },
    async get(namespace, id) {
      return guardMongo(async () => ((await rollouts.findOne({ _id: id, namespace })) ? latest(id) : undefined));
    },
    async list(namespace, { limit, before, group }) {
      if (limit <= 0) return [];
      return guardMongo(async () => {
        const filter: Filter<RolloutDocument> = { namespace, ...(group ? { group } : {}), ...(before ? { _id: { $lt: before } } : {}) };
        const docs = await rollouts.find(filter).sort({ _id: -1 }).limit(limit).toArray();
        const found = await Promise.all(docs.map((d) => latest(d._id)));
        return found.filter((r): r is Rollout => r !== undefined);
      });
    },
    async active() {
      const docs = await guardMongo(() => slots.find({}).toArray());
      return docs.map((d) => ({ namespace: d.namespace, id: d.rolloutId }));
    },
    async release(namespace, group, id) {
      await guardMongo(() => slots.deleteOne({ _id: `${namespace}/${group}`, rolloutId: id }));
    },
  };
}

export function createMongoRolloutLeaseRepository(db: Db): RolloutLeaseRepository {
  const leases = db.collection<LeaseDocument>(LEASES);
  return {
    async latest(rolloutId) {
      const [doc] = await guardMongo(() => leases.find({ rolloutId }).sort({ term: -1 }).limit(1).toArray());
      return doc ? { rolloutId: doc.rolloutId, term: doc.term, holder: doc.holder, expiresAt: doc.expiresAt } : undefined;
    },
    async claim(lease) {
      return guardMongo(() => insertOnce(leases, { _id: `${lease.rolloutId}/${padded(lease.term)}`, ...lease }));
    },
    async renew(lease) {
      // Only the term's holder writes its document: no race to lose.
      await guardMongo(() => leases.updateOne({ _id: `${lease.rolloutId}/${padded(lease.term)}`, holder: lease.holder }, { $set: { expiresAt: lease.expiresAt } }));
    },
  };
}
