import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * API keys look like `fpk_<id>_<secret>`: the id (16 hex digits) finds the
 * record, the secret (32 random bytes, base64url) proves possession. Only the
 * SHA-256 of the secret is stored: a secret of 256 random bits cannot be
 * guessed from its hash, so a slow password hash would add cost and nothing
 * else.
 */
export const API_KEY_PREFIX = "fpk_";

export interface NewApiKey {
  id: string;
  /** The whole key, shown once. */
  key: string;
  secretSha256: Uint8Array;
}

export function generateApiKey(): NewApiKey {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { id, key: `${API_KEY_PREFIX}${id}_${secret}`, secretSha256: sha256(secret) };
}

/** The id and secret of a key-shaped text, or undefined when it is not one. */
export function parseApiKey(text: string): { id: string; secret: string } | undefined {
  const m = /^fpk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(text);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

/** Whether `secret` is the one whose hash was stored (constant time). */
export function secretMatches(secret: string, storedSha256: Uint8Array): boolean {
  const given = sha256(secret);
  return given.length === storedSha256.length && timingSafeEqual(given, storedSha256);
}

const sha256 = (text: string) => new Uint8Array(createHash("sha256").update(text).digest());

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Whether a key name is acceptable (it becomes the identity "key:<name>"). */
export function isApiKeyName(name: string): boolean {
  return NAME.test(name);
}
