import { ApiKeyNameTakenError, generateApiKey, roleBinding, type AccessEventRecord, type AccessRepository, type ApiKeyRecord } from "@fleetplane/access";
import { uuidv7Bytes } from "@fleetplane/platform";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

export interface AccessStoreUnderTest {
  access: AccessRepository;
  close(): Promise<void>;
}

const keyNamed = (name: string, createdAtMs = 1_767_225_600_000): ApiKeyRecord => {
  const made = generateApiKey();
  return { id: made.id, name, secretSha256: made.secretSha256, createdAtMs, createdBy: "key:root" };
};

const eventAt = (atMs: number, method = "fleetplane.agent.v1.AgentService/SetRemoteConfig"): AccessEventRecord => ({
  id: Buffer.from(uuidv7Bytes(atMs)).toString("hex"),
  atMs,
  method,
  identity: "",
  outcome: "unauthenticated",
  reason: "no credential",
  peer: "127.0.0.1",
});

/** The behaviour every access store (keys, bindings, refused calls) must share. `open` returns an empty one. */
export function accessRepositoryContract(name: string, open: () => Promise<AccessStoreUnderTest>): void {
  describe(`${name}: API keys, role bindings, access events`, () => {
    let store: AccessStoreUnderTest;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store?.close();
    });

    it("keeps a key's hash and fields, lists keys by name, and takes a name once", async () => {
      const b = keyNamed("bob");
      const a = keyNamed("alice");
      await store.access.insertApiKey(b);
      await store.access.insertApiKey(a);
      expect(await store.access.getApiKey(a.id)).toEqual(a);
      expect(await store.access.getApiKey("0000000000000000")).toBeUndefined();
      expect((await store.access.listApiKeys()).map((k) => k.name)).toEqual(["alice", "bob"]);
      await expect(store.access.insertApiKey(keyNamed("alice"))).rejects.toBeInstanceOf(ApiKeyNameTakenError);
      expect(await store.access.listApiKeys()).toHaveLength(2);
    });

    it("lets one of several concurrent creations of a name win", async () => {
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => store.access.insertApiKey(keyNamed("race"))));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      expect(results.filter((r) => r.status === "rejected").every((r) => (r as PromiseRejectedResult).reason instanceof ApiKeyNameTakenError)).toBe(true);
    });

    it("revokes a key once, keeps the first revocation, and says when the key is unknown", async () => {
      const k = keyNamed("ci");
      await store.access.insertApiKey(k);
      expect(await store.access.revokeApiKey(k.id, 2_000, "key:root")).toMatchObject({ id: k.id, revokedAtMs: 2_000, revokedBy: "key:root" });
      expect(await store.access.revokeApiKey(k.id, 3_000, "key:other")).toMatchObject({ revokedAtMs: 2_000, revokedBy: "key:root" });
      expect(await store.access.getApiKey(k.id)).toMatchObject({ revokedAtMs: 2_000 });
      expect(await store.access.revokeApiKey("ffffffffffffffff", 1, "x")).toBeUndefined();
    });

    it("keeps role bindings once each, lists them by identity, and deletes them", async () => {
      const ops = roleBinding("key:ops", "operator", "default");
      await store.access.putRoleBinding(ops);
      await store.access.putRoleBinding(ops);
      await store.access.putRoleBinding(roleBinding("key:ops", "viewer", "*"));
      await store.access.putRoleBinding(roleBinding("oidc:alice", "admin", "*"));
      // "key:op" is a prefix of "key:ops": its bindings are its own.
      await store.access.putRoleBinding(roleBinding("key:op", "viewer", "default"));
      expect(await store.access.listRoleBindings("key:ops")).toEqual([roleBinding("key:ops", "viewer", "*"), ops]);
      expect(await store.access.listRoleBindings("key:op")).toEqual([roleBinding("key:op", "viewer", "default")]);
      expect(await store.access.listRoleBindings()).toHaveLength(4);
      expect(await store.access.deleteRoleBinding(ops)).toBe(true);
      expect(await store.access.deleteRoleBinding(ops)).toBe(false);
      expect(await store.access.listRoleBindings("key:ops")).toEqual([roleBinding("key:ops", "viewer", "*")]);
    });

    it("lists access events newest first, a page at a time", async () => {
      const events = [1_000, 2_000, 3_000, 4_000, 5_000].map((at) => eventAt(at));
      for (const e of events) await store.access.appendAccessEvent(e);
      const page1 = await store.access.listAccessEvents({ limit: 3 });
      expect(page1.map((e) => e.atMs)).toEqual([5_000, 4_000, 3_000]);
      expect(page1[0]).toEqual(events[4]);
      const page2 = await store.access.listAccessEvents({ limit: 3, before: page1.at(-1)!.id });
      expect(page2.map((e) => e.atMs)).toEqual([2_000, 1_000]);
      expect(await store.access.listAccessEvents({ limit: 0 })).toEqual([]);
    });
  });
}
