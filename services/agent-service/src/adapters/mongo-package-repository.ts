import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { PackageSchema, type Package } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { bytesOfBinary, guardMongo } from "@fleetplane/platform-node/mongo";
import { Binary, MongoServerError, type Db, type Filter } from "mongodb";
import type { PackageKey, PackageRepository } from "../packages/package-repository.js";

/**
 * One document per package version. `_id` is the JSON of [name, version]: a
 * unique key without separators that a name could contain; `name` and
 * `version` are copied out for sorting and filtering; the package itself is
 * the `proto` blob. Only single-document writes (FerretDB 1.x has no
 * transactions).
 */
interface PackageDocument {
  _id: string;
  name: string;
  version: string;
  proto: Binary;
}

const PACKAGES = "packages";
const DUPLICATE_KEY = 11000;

const idOf = (key: PackageKey) => JSON.stringify([key.name, key.version]);

/** Creates the index listings rely on. Run once at start-up (a no-op when it exists). */
export async function ensurePackageIndexes(db: Db): Promise<void> {
  await guardMongo(() => db.collection(PACKAGES).createIndex({ name: 1, version: 1 }));
}

export function createMongoPackageRepository(db: Db): PackageRepository {
  const packages = db.collection<PackageDocument>(PACKAGES);
  const decode = (doc: PackageDocument): Package => fromBinary(PackageSchema, bytesOfBinary(doc.proto));

  return {
    async insertIfAbsent(pkg) {
      return guardMongo(async () => {
        try {
          // The unique _id decides between concurrent registrations.
          await packages.insertOne({ _id: idOf(pkg), name: pkg.name, version: pkg.version, proto: new Binary(toBinary(PackageSchema, pkg)) });
          return { stored: pkg, created: true };
        } catch (err) {
          if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) throw err;
        }
        const existing = await packages.findOne({ _id: idOf(pkg) });
        // Deleted between our insert and this read: report the conflict as a retryable miss.
        if (!existing) throw new Error(`package "${pkg.name}" version "${pkg.version}" changed while being registered; retry`);
        return { stored: decode(existing), created: false };
      });
    },
    async get(key) {
      const doc = await guardMongo(() => packages.findOne({ _id: idOf(key) }));
      return doc ? decode(doc) : undefined;
    },
    async list({ name, limit, after }) {
      if (limit <= 0) return [];
      const filter: Filter<PackageDocument> = {};
      if (name !== undefined) filter.name = name;
      if (after) filter.$or = [{ name: { $gt: after.name } }, { name: after.name, version: { $gt: after.version } }];
      const docs = await guardMongo(() => packages.find(filter).sort({ name: 1, version: 1 }).limit(limit).toArray());
      return docs.map(decode);
    },
    async delete(key) {
      const result = await guardMongo(() => packages.deleteOne({ _id: idOf(key) }));
      return result.deletedCount > 0;
    },
  };
}
