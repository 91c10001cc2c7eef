import { bytesOfBinary, guardMongo, isDuplicateKey } from "@fleetplane/platform-node/mongo";
import { Binary, type Db } from "mongodb";
import { ApiKeyNameTakenError, type AccessEventRecord, type AccessRepository, type ApiKeyRecord } from "../access-repository.js";
import type { RoleBinding } from "../role-bindings.js";

interface ApiKeyDocument {
  _id: string;
  name: string;
  secretSha256: Binary;
  createdAtMs: number;
  createdBy: string;
  revokedAtMs?: number;
  revokedBy?: string;
}

interface RoleBindingDocument {
  /** JSON of [identity, namespace, role]: one document per binding. */
  _id: string;
  identity: string;
  namespace: string;
  role: string;
}

type AccessEventDocument = Omit<AccessEventRecord, "id"> & { _id: string };

const API_KEYS = "api_keys";
const ROLE_BINDINGS = "role_bindings";
const ACCESS_EVENTS = "access_events";

/** The unique name index decides between concurrent creations (FerretDB enforces it; no transactions needed). */
export async function ensureAccessIndexes(db: Db): Promise<void> {
  await guardMongo(() => db.collection(API_KEYS).createIndex({ name: 1 }, { unique: true }));
  await guardMongo(() => db.collection(ROLE_BINDINGS).createIndex({ identity: 1 }));
}

const fromDocument = ({ _id, secretSha256, ...rest }: ApiKeyDocument): ApiKeyRecord => ({ ...rest, id: _id, secretSha256: bytesOfBinary(secretSha256) });
const bindingId = (b: RoleBinding) => JSON.stringify([b.identity, b.namespace, b.role]);

export function createMongoAccessRepository(db: Db): AccessRepository {
  const keys = db.collection<ApiKeyDocument>(API_KEYS);
  const bindings = db.collection<RoleBindingDocument>(ROLE_BINDINGS);
  const events = db.collection<AccessEventDocument>(ACCESS_EVENTS);

  return {
    async insertApiKey({ id, secretSha256, ...rest }) {
      try {
        await guardMongo(() => keys.insertOne({ _id: id, ...rest, secretSha256: new Binary(secretSha256) }));
      } catch (err) {
        if (isDuplicateKey(err)) throw new ApiKeyNameTakenError(rest.name);
        throw err;
      }
    },
    async getApiKey(id) {
      const doc = await guardMongo(() => keys.findOne({ _id: id }));
      return doc ? fromDocument(doc) : undefined;
    },
    async listApiKeys() {
      return (await guardMongo(() => keys.find({}).sort({ name: 1 }).toArray())).map(fromDocument);
    },
    async revokeApiKey(id, atMs, by) {
      // Only the first revocation writes: the filter matches while unrevoked.
      await guardMongo(() => keys.updateOne({ _id: id, revokedAtMs: { $exists: false } }, { $set: { revokedAtMs: atMs, revokedBy: by } }));
      const doc = await guardMongo(() => keys.findOne({ _id: id }));
      return doc ? fromDocument(doc) : undefined;
    },
    async putRoleBinding(b) {
      await guardMongo(() => bindings.replaceOne({ _id: bindingId(b) }, { identity: b.identity, namespace: b.namespace, role: b.role }, { upsert: true }));
    },
    async listRoleBindings(identity) {
      const docs = await guardMongo(() => bindings.find(identity === undefined ? {} : { identity }).sort({ identity: 1, namespace: 1, role: 1 }).toArray());
      return docs.map((d) => ({ identity: d.identity, namespace: d.namespace, role: d.role }) as RoleBinding);
    },
    async deleteRoleBinding(b) {
      return (await guardMongo(() => bindings.deleteOne({ _id: bindingId(b) }))).deletedCount > 0;
    },
    async appendAccessEvent({ id, ...rest }) {
      await guardMongo(() => events.insertOne({ _id: id, ...rest }));
    },
    async listAccessEvents({ limit, before }) {
      if (limit <= 0) return [];
      const docs = await guardMongo(() => events.find(before ? { _id: { $lt: before } } : {}).sort({ _id: -1 }).limit(limit).toArray());
      return docs.map(({ _id, ...rest }) => ({ id: _id, ...rest }));
    },
  };
}
