import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * An enrollment token as agents present it: "fpe_<id>_<secret>". The id is
 * public (it names the token in lists and on the agents bound to it); the
 * secret is 32 random bytes. Only SHA-256 of the secret is stored: with 256
 * bits of randomness a slow password hash adds nothing, and a plain digest
 * keeps the check cheap enough to run on a cache miss at any rate.
 */
const PREFIX = "fpe_";
const ID_BYTES = 8;
const SECRET_BYTES = 32;
/** Longer presented tokens are refused without hashing (bounded work per request). */
export const MAX_TOKEN_LENGTH = 128;
const FORMAT = /^fpe_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface NewEnrollmentSecret {
  id: string;
  /** What agents present. */
  token: string;
  secretHash: Uint8Array;
}

export function newEnrollmentSecret(): NewEnrollmentSecret {
  const id = randomBytes(ID_BYTES).toString("hex");
  const secret = randomBytes(SECRET_BYTES).toString("base64url");
  return { id, token: `${PREFIX}${id}_${secret}`, secretHash: hashOf(secret) };
}

/** The id and secret of a presented token; undefined when it is not one of ours. */
export function parseEnrollmentToken(token: string): { id: string; secret: string } | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const m = FORMAT.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

/** Constant-time comparison of a presented secret with the stored hash. */
export function secretMatches(secret: string, storedHash: Uint8Array): boolean {
  const presented = hashOf(secret);
  return storedHash.length === presented.length && timingSafeEqual(presented, storedHash);
}

function hashOf(secret: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(secret, "utf8").digest());
}
