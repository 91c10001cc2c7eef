import { describe, expect, it } from "vitest";
import type { ApiKeyRecord } from "./access-repository.js";
import { createCredentialCache, type CredentialSource } from "./credential-cache.js";
import type { RoleBinding } from "./role-bindings.js";

function store() {
  const reads = { keys: 0, bindings: 0 };
  const keys = new Map<string, ApiKeyRecord>([["aaaa", { id: "aaaa", name: "ci", secretSha256: new Uint8Array(32), createdAtMs: 1, createdBy: "t" }]]);
  const bindings: RoleBinding[] = [{ identity: "key:ci", role: "operator", namespace: "*" }];
  let gate: Promise<void> | undefined;
  const source: CredentialSource = {
    async getApiKey(id) {
      reads.keys++;
      const found = keys.get(id);
      await gate;
      return found && { ...found };
    },
    async listRoleBindings(identity) {
      reads.bindings++;
      return bindings.filter((b) => identity === undefined || b.identity === identity);
    },
  };
  return { source, reads, keys, bindings, hold: (p: Promise<void> | undefined) => (gate = p) };
}

describe("credential cache", () => {
  it("reads a hot key and its bindings from the store once per TTL", async () => {
    const s = store();
    let now = 0;
    const cache = createCredentialCache(s.source, { ttlMs: 1_000, now: () => now });
    for (let i = 0; i < 5; i++) {
      expect((await cache.getApiKey("aaaa"))?.name).toBe("ci");
      expect(await cache.listRoleBindings("key:ci")).toHaveLength(1);
    }
    expect(s.reads).toEqual({ keys: 1, bindings: 1 });
    now = 1_000;
    await cache.getApiKey("aaaa");
    await cache.listRoleBindings("key:ci");
    expect(s.reads).toEqual({ keys: 2, bindings: 2 });
  });

  it("sees a revocation at once after forget(identity), and drops only that identity", async () => {
    const s = store();
    s.keys.set("bbbb", { ...s.keys.get("aaaa")!, id: "bbbb", name: "other" });
    const cache = createCredentialCache(s.source, { ttlMs: 60_000 });
    await cache.getApiKey("aaaa");
    await cache.getApiKey("bbbb");
    s.keys.set("aaaa", { ...s.keys.get("aaaa")!, revokedAtMs: 5 });
    expect((await cache.getApiKey("aaaa"))?.revokedAtMs).toBeUndefined(); // cached: no notice yet
    cache.forget("key:ci");
    expect((await cache.getApiKey("aaaa"))?.revokedAtMs).toBe(5);
    const before = s.reads.keys;
    await cache.getApiKey("bbbb");
    expect(s.reads.keys).toBe(before);
  });

  it("does not keep a load that overlapped a forget (it may predate the change)", async () => {
    const s = store();
    const cache = createCredentialCache(s.source, { ttlMs: 60_000 });
    let release!: () => void;
    s.hold(new Promise<void>((r) => (release = r)));
    const loading = cache.getApiKey("aaaa");
    cache.forget("key:ci");
    release();
    await loading;
    s.hold(undefined);
    await cache.getApiKey("aaaa");
    expect(s.reads.keys).toBe(2);
  });

  it("keeps no unknown key, nothing with TTL 0, and at most maxEntries", async () => {
    const s = store();
    const cache = createCredentialCache(s.source, { ttlMs: 60_000, maxEntries: 1 });
    expect(await cache.getApiKey("ffff")).toBeUndefined();
    expect(await cache.getApiKey("ffff")).toBeUndefined();
    expect(s.reads.keys).toBe(2);
    await cache.listRoleBindings("key:ci");
    await cache.listRoleBindings("key:x");
    await cache.listRoleBindings("key:ci"); // evicted by key:x
    expect(s.reads.bindings).toBe(3);

    const uncached = createCredentialCache(s.source, { ttlMs: 0 });
    await uncached.getApiKey("aaaa");
    await uncached.getApiKey("aaaa");
    expect(s.reads.keys).toBe(4);
  });
});
