import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { EnrollmentTokenSchema, type EnrollmentToken } from "@fleetplane/gen/fleetplane/agent/v1/enrollment_service_pb";
import type { EmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import type { EnrollmentTokenRepository } from "../enrollment/enrollment-token-repository.js";

/**
 * Enrollment tokens in the embedded store, keyed by id, and their uses keyed
 * [token id, instance UID]; a use and the token's count change in one
 * transaction, so the maximum holds under concurrent enrollments.
 */
export function createLmdbEnrollmentTokenRepository(store: EmbeddedStore): EnrollmentTokenRepository {
  const tokens = store.openDB<Buffer, string>({ name: "enrollment-tokens", encoding: "binary" });
  const uses = store.openDB<number, [string, string]>({ name: "enrollment-uses" });
  const encode = (t: EnrollmentToken) => Buffer.from(toBinary(EnrollmentTokenSchema, t));
  const decode = (b: Buffer | undefined) => (b ? fromBinary(EnrollmentTokenSchema, new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) : undefined);
  return {
    async create(token) {
      await tokens.put(token.id, encode(token));
    },
    async get(id) {
      return decode(tokens.get(id));
    },
    async list(namespace) {
      const out: EnrollmentToken[] = [];
      for (const { value } of tokens.getRange({})) {
        const t = decode(value)!;
        if (namespace === undefined || t.namespace === namespace) out.push(t);
      }
      return out.sort((a, b) => (b.createdAt ? timestampMs(b.createdAt) : 0) - (a.createdAt ? timestampMs(a.createdAt) : 0));
    },
    async revoke(id, at) {
      return store.transaction(() => {
        const t = decode(tokens.get(id));
        if (!t) return undefined;
        if (!t.revokedAt) {
          t.revokedAt = at;
          tokens.put(id, encode(t));
        }
        return t;
      });
    },
    async recordUse(id, uid, maxUses) {
      return store.transaction(() => {
        if (uses.get([id, uid]) !== undefined) return true;
        const t = decode(tokens.get(id));
        if (!t) return false;
        if (maxUses > 0 && t.uses >= maxUses) return false;
        t.uses += 1;
        tokens.put(id, encode(t));
        uses.put([id, uid], Date.now());
        return true;
      });
    },
  };
}
