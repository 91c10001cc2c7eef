import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { EnrollmentTokenSchema, type EnrollmentToken } from "@fleetplane/gen/fleetplane/agent/v1/enrollment_service_pb";
import { bytesOfBinary, guardMongo, isDuplicateKey } from "@fleetplane/platform-node/mongo";
import { Binary, type Db } from "mongodb";
import type { EnrollmentTokenRepository } from "../enrollment/enrollment-token-repository.js";

interface TokenDocument {
  _id: string;
  namespace: string;
  createdAtMs: number;
  proto: Binary;
}

interface UseDocument {
  _id: string; // "<token id>/<instance UID>"
  token: string;
}

const TOKENS = "enrollment_tokens";
const USES = "enrollment_uses";

export async function ensureEnrollmentIndexes(db: Db): Promise<void> {
  await guardMongo(async () => {
    await db.collection(TOKENS).createIndex({ namespace: 1, createdAtMs: -1 });
    await db.collection(USES).createIndex({ token: 1 });
  });
}

/**
 * Enrollment tokens in MongoDB (or FerretDB). A use is an insert under a
 * unique key (token, UID), then a count: FerretDB 1.x was seen to let two
 * concurrent conditional updates both match, while it does enforce unique
 * keys. A use that finds the count over the maximum takes itself back, so
 * two racing enrollments may both be refused, never both admitted past it.
 */
export function createMongoEnrollmentTokenRepository(db: Db): EnrollmentTokenRepository {
  const tokens = db.collection<TokenDocument>(TOKENS);
  const uses = db.collection<UseDocument>(USES);
  const decode = (doc: TokenDocument) => fromBinary(EnrollmentTokenSchema, bytesOfBinary(doc.proto));
  const withUses = async (t: EnrollmentToken) => ({ ...t, uses: await uses.countDocuments({ token: t.id }) });
  const docOf = (t: EnrollmentToken): TokenDocument => ({
    _id: t.id,
    namespace: t.namespace,
    createdAtMs: t.createdAt ? Number(t.createdAt.seconds) * 1000 + Math.floor(t.createdAt.nanos / 1e6) : 0,
    proto: new Binary(toBinary(EnrollmentTokenSchema, t)),
  });
  return {
    async create(token) {
      await guardMongo(() => tokens.insertOne(docOf(token)));
    },
    async get(id) {
      return guardMongo(async () => {
        const doc = await tokens.findOne({ _id: id });
        return doc ? withUses(decode(doc)) : undefined;
      });
    },
    async list(namespace) {
      return guardMongo(async () => {
        const docs = await tokens.find(namespace === undefined ? {} : { namespace }).sort({ createdAtMs: -1 }).toArray();
        return Promise.all(docs.map((d) => withUses(decode(d))));
      });
    },
    async revoke(id, at) {
      return guardMongo(async () => {
        const doc = await tokens.findOne({ _id: id });
        if (!doc) return undefined;
        const token = decode(doc);
        if (token.revokedAt) return withUses(token);
        token.revokedAt = at;
        await tokens.updateOne({ _id: id }, { $set: { proto: new Binary(toBinary(EnrollmentTokenSchema, token)) } });
        return withUses(token);
      });
    },
    async recordUse(id, uid, maxUses) {
      return guardMongo(async () => {
        const key = `${id}/${uid}`;
        try {
          await uses.insertOne({ _id: key, token: id });
        } catch (err) {
          if (isDuplicateKey(err)) return true;
          throw err;
        }
        if (maxUses > 0 && (await uses.countDocuments({ token: id })) > maxUses) {
          await uses.deleteOne({ _id: key });
          return false;
        }
        return true;
      });
    },
  };
}
