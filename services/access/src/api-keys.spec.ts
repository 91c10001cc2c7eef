import { describe, expect, it } from "vitest";
import { generateApiKey, parseApiKey, secretMatches } from "./api-keys.js";

describe("API keys", () => {
  it("are fpk_<id>_<secret>, parse back, and only the right secret matches the stored hash", () => {
    const made = generateApiKey();
    expect(made.key).toMatch(/^fpk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseApiKey(made.key)!;
    expect(parsed.id).toBe(made.id);
    expect(secretMatches(parsed.secret, made.secretSha256)).toBe(true);
    const other = parseApiKey(generateApiKey().key)!;
    expect(secretMatches(other.secret, made.secretSha256)).toBe(false);
    // The stored hash is not the secret.
    expect(Buffer.from(made.secretSha256).toString("base64url")).not.toBe(parsed.secret);
  });

  it("refuses what is not key-shaped", () => {
    for (const text of ["", "fpk_", "fpk_zz_secret", `fpk_${"a".repeat(16)}_short`, `xyz_${"a".repeat(16)}_${"b".repeat(43)}`]) expect(parseApiKey(text), text).toBeUndefined();
  });
});
