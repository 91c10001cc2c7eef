import { randomUUID } from "node:crypto";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConfigurationSchema, ConfigurationVersionSchema, GroupSchema, NamespaceSchema } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { bytesOfBinary, guardMongo, isDuplicateKey, upsertWithRetry } from "@fleetplane/platform-node/mongo";
import { Binary, type Db, type Filter } from "mongodb";
import { ConfigurationVersionConflictError, type ConfigurationRepository } from "../fleet/configuration-repository.js";
import type { GroupRepository } from "../fleet/group-repository.js";
import type { NamespaceRepository } from "../fleet/namespace-repository.js";

/**
 * Namespaces, configurations and groups in MongoDB (or FerretDB): one
 * document per resource, the resource itself as the `proto` blob, the fields
 * queries use copied out. Only single-document writes (FerretDB 1.x has no
 * transactions), ordered so a reader never sees a half-made change: a
 * version is written before the configuration that names it as latest.
 */

interface NamedDocument {
  _id: string; // "<namespace>/<name>" (names are DNS labels: no "/")
  namespace: string;
  name: string;
  proto: Binary;
}

interface ConfigurationDocument extends NamedDocument {
  /**
   * Tells apart configurations that reuse a deleted one's name: versions are
   * keyed by it, so a re-created configuration never meets an old version.
   */
  generation: string;
  latestVersion: number;
}

interface VersionDocument {
  _id: string; // "<generation>/<version>"
  generation: string;
  version: number;
  proto: Binary;
}

interface RevisionDocument {
  _id: string; // namespace
  revision: number;
}

const NAMESPACES = "namespaces";
const CONFIGURATIONS = "configurations";
const CONFIGURATION_VERSIONS = "configuration_versions";
const GROUPS = "groups";
const GROUP_REVISIONS = "group_revisions";

const idOf = (namespace: string, name: string) => `${namespace}/${name}`;

/** Creates the indexes the queries below rely on (one per call: FerretDB 1.x, see ensureAgentIndexes). */
export async function ensureFleetIndexes(db: Db): Promise<void> {
  await guardMongo(async () => {
    await db.collection(CONFIGURATIONS).createIndex({ namespace: 1, name: 1 });
    await db.collection(CONFIGURATION_VERSIONS).createIndex({ generation: 1, version: -1 });
    await db.collection(GROUPS).createIndex({ namespace: 1, name: 1 });
  });
}

export function createMongoNamespaceRepository(db: Db): NamespaceRepository {
  const namespaces = db.collection<{ _id: string; proto: Binary }>(NAMESPACES);
  const decode = (doc: { proto: Binary }) => fromBinary(NamespaceSchema, bytesOfBinary(doc.proto));
  return {
    async create(ns) {
      return guardMongo(async () => {
        try {
          await namespaces.insertOne({ _id: ns.name, proto: new Binary(toBinary(NamespaceSchema, ns)) });
          return true;
        } catch (err) {
          if (isDuplicateKey(err)) return false;
          throw err;
        }
      });
    },
    async get(name) {
      const doc = await guardMongo(() => namespaces.findOne({ _id: name }));
      return doc ? decode(doc) : undefined;
    },
    async list({ limit, after }) {
      if (limit <= 0) return [];
      const filter: Filter<{ _id: string }> = after !== undefined ? { _id: { $gt: after } } : {};
      const docs = await guardMongo(() => namespaces.find(filter).sort({ _id: 1 }).limit(limit).toArray());
      return docs.map(decode);
    },
    async delete(name) {
      const result = await guardMongo(() => namespaces.deleteOne({ _id: name }));
      return result.deletedCount > 0;
    },
  };
}

export function createMongoConfigurationRepository(db: Db): ConfigurationRepository {
  const configurations = db.collection<ConfigurationDocument>(CONFIGURATIONS);
  const versions = db.collection<VersionDocument>(CONFIGURATION_VERSIONS);
  const decode = (doc: ConfigurationDocument) => fromBinary(ConfigurationSchema, bytesOfBinary(doc.proto));
  const decodeVersion = (doc: VersionDocument) => fromBinary(ConfigurationVersionSchema, bytesOfBinary(doc.proto));
  const generationOf = async (namespace: string, name: string) =>
    (await configurations.findOne({ _id: idOf(namespace, name) }, { projection: { generation: 1 } }))?.generation;
  const versionDoc = (generation: string, version: { version: number }, proto: Uint8Array): VersionDocument => ({
    _id: `${generation}/${version.version}`,
    generation,
    version: version.version,
    proto: new Binary(proto),
  });

  return {
    async get(namespace, name) {
      const doc = await guardMongo(() => configurations.findOne({ _id: idOf(namespace, name) }));
      return doc ? decode(doc) : undefined;
    },
    async list(namespace, { limit, after }) {
      if (limit <= 0) return [];
      const filter: Filter<ConfigurationDocument> = { namespace, ...(after !== undefined ? { name: { $gt: after } } : {}) };
      const docs = await guardMongo(() => configurations.find(filter).sort({ name: 1 }).limit(limit).toArray());
      return docs.map(decode);
    },
    async create(configuration, first) {
      return guardMongo(async () => {
        const generation = randomUUID();
        const version = versionDoc(generation, first, toBinary(ConfigurationVersionSchema, first));
        await versions.insertOne(version);
        try {
          await configurations.insertOne({
            _id: idOf(configuration.namespace, configuration.name),
            namespace: configuration.namespace,
            name: configuration.name,
            generation,
            latestVersion: configuration.latestVersion,
            proto: new Binary(toBinary(ConfigurationSchema, configuration)),
          });
          return true;
        } catch (err) {
          await versions.deleteOne({ _id: version._id });
          if (isDuplicateKey(err)) return false;
          throw err;
        }
      });
    },
    async addVersion(configuration, version) {
      await guardMongo(async () => {
        const id = idOf(configuration.namespace, configuration.name);
        const generation = await generationOf(configuration.namespace, configuration.name);
        if (!generation) throw new ConfigurationVersionConflictError(configuration.namespace, configuration.name, version.version);
        const doc = versionDoc(generation, version, toBinary(ConfigurationVersionSchema, version));
        try {
          await versions.insertOne(doc);
        } catch (err) {
          if (isDuplicateKey(err)) throw new ConfigurationVersionConflictError(configuration.namespace, configuration.name, version.version);
          throw err;
        }
        // The configuration moves to the new version only if nobody moved it meanwhile.
        const result = await configurations.updateOne(
          { _id: id, generation, latestVersion: version.version - 1 },
          { $set: { latestVersion: version.version, proto: new Binary(toBinary(ConfigurationSchema, configuration)) } },
        );
        if (result.matchedCount === 0) {
          await versions.deleteOne({ _id: doc._id });
          throw new ConfigurationVersionConflictError(configuration.namespace, configuration.name, version.version);
        }
      });
    },
    async getVersion(namespace, name, version) {
      return guardMongo(async () => {
        const doc = await configurations.findOne({ _id: idOf(namespace, name) }, { projection: { generation: 1, latestVersion: 1 } });
        // A version above latest is one being added and not yet committed.
        if (!doc || version > doc.latestVersion) return undefined;
        const found = await versions.findOne({ _id: `${doc.generation}/${version}` });
        return found ? decodeVersion(found) : undefined;
      });
    },
    async listVersions(namespace, name, { limit, before }) {
      if (limit <= 0) return [];
      return guardMongo(async () => {
        const doc = await configurations.findOne({ _id: idOf(namespace, name) }, { projection: { generation: 1, latestVersion: 1 } });
        if (!doc) return [];
        const below = Math.min(before ?? Number.MAX_SAFE_INTEGER, doc.latestVersion + 1);
        const docs = await versions.find({ generation: doc.generation, version: { $lt: below } }).sort({ version: -1 }).limit(limit).toArray();
        return docs.map(decodeVersion);
      });
    },
    async delete(namespace, name) {
      return guardMongo(async () => {
        const doc = await configurations.findOneAndDelete({ _id: idOf(namespace, name) });
        if (!doc) return false;
        await versions.deleteMany({ generation: doc.generation });
        return true;
      });
    },
    async any(namespace) {
      return guardMongo(async () => (await configurations.findOne({ namespace }, { projection: { _id: 1 } })) !== null);
    },
  };
}

export function createMongoGroupRepository(db: Db): GroupRepository {
  const groups = db.collection<NamedDocument>(GROUPS);
  const revisions = db.collection<RevisionDocument>(GROUP_REVISIONS);
  const decode = (doc: NamedDocument) => fromBinary(GroupSchema, bytesOfBinary(doc.proto));
  const docOf = (group: { namespace: string; name: string }, proto: Uint8Array): NamedDocument => ({ _id: idOf(group.namespace, group.name), namespace: group.namespace, name: group.name, proto: new Binary(proto) });
  // Moved after the write it announces: a catalog that reads the old
  // revision with the new groups reloads again at its next check.
  const bump = (namespace: string) => upsertWithRetry(() => revisions.updateOne({ _id: namespace }, { $inc: { revision: 1 } }, { upsert: true }));

  return {
    async get(namespace, name) {
      const doc = await guardMongo(() => groups.findOne({ _id: idOf(namespace, name) }));
      return doc ? decode(doc) : undefined;
    },
    async list(namespace, { limit, after }) {
      if (limit <= 0) return [];
      const filter: Filter<NamedDocument> = { namespace, ...(after !== undefined ? { name: { $gt: after } } : {}) };
      const docs = await guardMongo(() => groups.find(filter).sort({ name: 1 }).limit(limit).toArray());
      return docs.map(decode);
    },
    async create(group) {
      return guardMongo(async () => {
        try {
          await groups.insertOne(docOf(group, toBinary(GroupSchema, group)));
        } catch (err) {
          if (isDuplicateKey(err)) return false;
          throw err;
        }
        await bump(group.namespace);
        return true;
      });
    },
    async update(group) {
      return guardMongo(async () => {
        const { _id, ...fields } = docOf(group, toBinary(GroupSchema, group));
        const result = await groups.updateOne({ _id }, { $set: fields });
        if (result.matchedCount === 0) return false;
        await bump(group.namespace);
        return true;
      });
    },
    async delete(namespace, name) {
      return guardMongo(async () => {
        const result = await groups.deleteOne({ _id: idOf(namespace, name) });
        if (result.deletedCount === 0) return false;
        await bump(namespace);
        return true;
      });
    },
    async revision(namespace) {
      const doc = await guardMongo(() => revisions.findOne({ _id: namespace }));
      return doc ? Number(doc.revision) : 0;
    },
  };
}
