import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { PackageSchema, type Package } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { bytesOfBinary, guardMongo, isDuplicateKey } from "@fleetplane/platform-node/mongo";
import { Binary, type Db, type Filter } from "mongodb";
import type { PackageKey, PackageRepository } from "../packages/package-repository.js";
import { DEFAULT_NAMESPACE } from "../fleet/resource-names.js";

/**
 * One document per package version. `_id` is the JSON of [namespace, name,
 * version]: a unique key without separators that a name could contain;
 * `namespace`, `name` and `version` are copied out for sorting and
 * filtering; the package itself is the `proto` blob. Only single-document
 * writes (FerretDB 1.x has no transactions).
 */
interface PackageDocument {
  _id: string;
  namespace: string;
  name: string;
  version: string;
  proto: Binary;
}

const PACKAGES = "packages";

const idOf = (namespace: string, key: PackageKey) => JSON.stringify([namespace, key.name, key.version]);

/**
 * Creates the index listings rely on (a no-op when it exists) and moves
 * packages stored before namespaces (no `namespace` field, `_id` of
 * [name, version]) into "default". Run once at start-up; a replica that
 * runs it at the same time inserts the same documents (a duplicate key is
 * the other's copy) and deletes the same old ones.
 */
export async function ensurePackageIndexes(db: Db): Promise<void> {
  await guardMongo(async () => {
    const packages = db.collection<PackageDocument>(PACKAGES);
    await packages.createIndex({ namespace: 1, name: 1, version: 1 });
    for (const old of await packages.find({ namespace: { $exists: false } }).toArray()) {
      const pkg = fromBinary(PackageSchema, bytesOfBinary(old.proto));
      pkg.namespace = DEFAULT_NAMESPACE;
      try {
        await packages.insertOne(documentOf(pkg));
      } catch (err) {
        if (!(isDuplicateKey(err))) throw err;
      }
      await packages.deleteOne({ _id: old._id });
    }
  });
}

function documentOf(pkg: Package): PackageDocument {
  const namespace = pkg.namespace || DEFAULT_NAMESPACE;
  return { _id: idOf(namespace, pkg), namespace, name: pkg.name, version: pkg.version, proto: new Binary(toBinary(PackageSchema, pkg)) };
}

export function createMongoPackageRepository(db: Db): PackageRepository {
  const packages = db.collection<PackageDocument>(PACKAGES);
  const decode = (doc: PackageDocument): Package => fromBinary(PackageSchema, bytesOfBinary(doc.proto));

  return {
    async insertIfAbsent(pkg) {
      return guardMongo(async () => {
        const doc = documentOf(pkg);
        try {
          // The unique _id decides between concurrent registrations.
          await packages.insertOne(doc);
          return { stored: pkg, created: true };
        } catch (err) {
          if (!(isDuplicateKey(err))) throw err;
        }
        const existing = await packages.findOne({ _id: doc._id });
        // Deleted between our insert and this read: report the conflict as a retryable miss.
        if (!existing) throw new Error(`package "${pkg.name}" version "${pkg.version}" changed while being registered; retry`);
        return { stored: decode(existing), created: false };
      });
    },
    async get(namespace, key) {
      const doc = await guardMongo(() => packages.findOne({ _id: idOf(namespace, key) }));
      return doc ? decode(doc) : undefined;
    },
    async list(namespace, { name, limit, after }) {
      if (limit <= 0) return [];
      const filter: Filter<PackageDocument> = { namespace };
      if (name !== undefined) filter.name = name;
      if (after) filter.$or = [{ name: { $gt: after.name } }, { name: after.name, version: { $gt: after.version } }];
      const docs = await guardMongo(() => packages.find(filter).sort({ name: 1, version: 1 }).limit(limit).toArray());
      return docs.map(decode);
    },
    async delete(namespace, key) {
      const result = await guardMongo(() => packages.deleteOne({ _id: idOf(namespace, key) }));
      return result.deletedCount > 0;
    },
  };
}
