import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { PackageSchema, type Package } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { PackageType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { PackageRepository } from "@fleetplane/agent-service";
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

export interface PackageStoreUnderTest {
  packages: PackageRepository;
  close(): Promise<void>;
}

/**
 * The behaviour every package registry store must share, whatever the
 * database. `open` must return an empty repository; it is called before
 * every test.
 */
export function packageRepositoryContract(name: string, open: () => Promise<PackageStoreUnderTest>): void {
  describe(`${name}: registered packages`, () => {
    let store: PackageStoreUnderTest;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store?.close();
    });

    it("returns a registered package with every field intact", async () => {
      const pkg = packageOf("otelcol", "0.120.0");
      expect(await store.packages.insertIfAbsent(pkg)).toEqual({ stored: pkg, created: true });
      expect(await store.packages.get(NS, { name: "otelcol", version: "0.120.0" })).toEqual(pkg);
      expect(await store.packages.get(NS, { name: "otelcol", version: "0.121.0" })).toBeUndefined();
      expect(await store.packages.get(NS, { name: "other", version: "0.120.0" })).toBeUndefined();
    });

    it("keeps the first registration of a name and version and returns it to later ones", async () => {
      const first = packageOf("otelcol", "1.0.0");
      const second = packageOf("otelcol", "1.0.0");
      await store.packages.insertIfAbsent(first);
      expect(await store.packages.insertIfAbsent(second)).toEqual({ stored: first, created: false });
      expect(await store.packages.get(NS, { name: "otelcol", version: "1.0.0" })).toEqual(first);
    });

    it("lets exactly one of several concurrent registrations of a new version create it", async () => {
      const attempts = Array.from({ length: 5 }, () => packageOf("race", "1.0.0"));
      const results = await Promise.all(attempts.map((p) => store.packages.insertIfAbsent(p)));
      const winners = results.filter((r) => r.created);
      expect(winners).toHaveLength(1);
      for (const r of results) expect(r.stored).toEqual(winners[0]!.stored);
    });

    it("lists in name then version order, a page at a time, and by name", async () => {
      // "otelcol" is a prefix of "otelcol-contrib": a store must not mix their versions.
      const keys: Array<[string, string]> = [
        ["otelcol-contrib", "0.9.0"],
        ["otelcol", "0.2.0"],
        ["agent.addon", "1.0.0"],
        ["otelcol", "0.10.0"],
        ["otelcol", "0.1.0"],
        ["$weird name", "1"],
      ];
      for (const [n, v] of keys) await store.packages.insertIfAbsent(packageOf(n, v));
      const sorted = [...keys].sort(([an, av], [bn, bv]) => (an === bn ? compareBytes(av, bv) : compareBytes(an, bn))).map(([n, v]) => `${n}@${v}`);
      const ids = (ps: Package[]) => ps.map((p) => `${p.name}@${p.version}`);

      expect(ids(await store.packages.list(NS, { limit: 100 }))).toEqual(sorted);
      const page1 = await store.packages.list(NS, { limit: 4 });
      const last = page1.at(-1)!;
      const page2 = await store.packages.list(NS, { limit: 4, after: { name: last.name, version: last.version } });
      expect([...ids(page1), ...ids(page2)]).toEqual(sorted);
      expect(page2).toHaveLength(2);

      expect(ids(await store.packages.list(NS, { name: "otelcol", limit: 100 }))).toEqual(["otelcol@0.1.0", "otelcol@0.10.0", "otelcol@0.2.0"]);
      expect(ids(await store.packages.list(NS, { name: "otelcol", limit: 2, after: { name: "otelcol", version: "0.10.0" } }))).toEqual(["otelcol@0.2.0"]);
      expect(await store.packages.list(NS, { name: "otel", limit: 100 })).toEqual([]);
      expect(await store.packages.list(NS, { limit: 0 })).toEqual([]);
    });

    it("keeps namespaces apart: the same name and version in two, each seen, listed and deleted only in its own", async () => {
      const mine = packageOf("otelcol", "1.0.0", "team-a");
      const theirs = packageOf("otelcol", "1.0.0", "team-b");
      expect((await store.packages.insertIfAbsent(mine)).created).toBe(true);
      expect((await store.packages.insertIfAbsent(theirs)).created).toBe(true);
      expect(await store.packages.get("team-a", { name: "otelcol", version: "1.0.0" })).toEqual(mine);
      expect(await store.packages.get("team-b", { name: "otelcol", version: "1.0.0" })).toEqual(theirs);
      expect(await store.packages.get(NS, { name: "otelcol", version: "1.0.0" })).toBeUndefined();
      // "team" is a prefix of both: a store must not mix them.
      await store.packages.insertIfAbsent(packageOf("collector", "1", "team"));
      expect((await store.packages.list("team-a", { limit: 10 })).map((p) => p.namespace)).toEqual(["team-a"]);
      expect((await store.packages.list("team", { limit: 10 })).map((p) => `${p.namespace}/${p.name}`)).toEqual(["team/collector"]);
      expect(await store.packages.list(NS, { limit: 10 })).toEqual([]);
      expect(await store.packages.delete("team-a", { name: "otelcol", version: "1.0.0" })).toBe(true);
      expect(await store.packages.get("team-b", { name: "otelcol", version: "1.0.0" })).toEqual(theirs);
      expect(await store.packages.delete(NS, { name: "otelcol", version: "1.0.0" })).toBe(false);
    });

    it("deletes one version and says whether it existed", async () => {
      await store.packages.insertIfAbsent(packageOf("otelcol", "1.0.0"));
      await store.packages.insertIfAbsent(packageOf("otelcol", "2.0.0"));
      expect(await store.packages.delete(NS, { name: "otelcol", version: "1.0.0" })).toBe(true);
      expect(await store.packages.delete(NS, { name: "otelcol", version: "1.0.0" })).toBe(false);
      expect(await store.packages.get(NS, { name: "otelcol", version: "1.0.0" })).toBeUndefined();
      expect((await store.packages.list(NS, { limit: 10 })).map((p) => p.version)).toEqual(["2.0.0"]);
      // A deleted version can be registered again.
      expect((await store.packages.insertIfAbsent(packageOf("otelcol", "1.0.0"))).created).toBe(true);
    });
  });
}

const NS = "default";

function packageOf(name: string, version: string, namespace = NS): Package {
  return create(PackageSchema, {
    namespace,
    name,
    version,
    type: PackageType.PackageType_Addon,
    downloadUrl: `https://packages.example/${encodeURIComponent(name)}-${version}.tar.gz`,
    sha256: new Uint8Array(randomBytes(32)),
    signature: new Uint8Array(randomBytes(64)),
    hash: new Uint8Array(randomBytes(32)),
    registeredAt: timestampFromMs(1_767_225_600_000),
    registeredBy: "alice@example.com",
  });
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
