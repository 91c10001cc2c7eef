import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it, onTestFinished } from "vitest";
import { ConfigurationSchema, ConfigurationVersionSchema, GroupSchema } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { silentLogger } from "@fleetplane/platform";
import { openEmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { createLmdbConfigurationRepository, createLmdbGroupRepository } from "../adapters/lmdb-fleet-repositories.js";
import { GroupCatalog } from "./group-catalog.js";
import type { GroupRepository } from "./group-repository.js";

function setup() {
  const store = openEmbeddedStore(mkdtempSync(join(tmpdir(), "fleetplane-catalog-")));
  onTestFinished(() => store.close());
  const groups = createLmdbGroupRepository(store);
  const configurations = createLmdbConfigurationRepository(store);
  const reads = { lists: 0 };
  const counted: GroupRepository = { ...groups, list: (ns, q) => (reads.lists++, groups.list(ns, q)) };
  return { groups, configurations, reads, catalog: new GroupCatalog({ groups: counted, configurations, packages: { get: async () => undefined }, logger: silentLogger() }) };
}

const group = (name: string, priority: number) => create(GroupSchema, { namespace: "ns", name, priority, configuration: "cfg", configurationVersion: 1 });

describe("the group catalog", () => {
  it("reloads a namespace only when its groups revision moved, and keeps groups in precedence order", async () => {
    const t = setup();
    await t.configurations.create(create(ConfigurationSchema, { namespace: "ns", name: "cfg", latestVersion: 1 }), create(ConfigurationVersionSchema, { namespace: "ns", configuration: "cfg", version: 1, files: { "": { body: new Uint8Array([1]) } } }));
    await t.groups.create(group("b", 1));
    await t.groups.create(group("a", 1));
    await t.groups.create(group("z", 9));
    const first = await t.catalog.snapshot("ns");
    expect(first.groups.map((g) => g.group.name)).toEqual(["z", "a", "b"]);
    expect(await t.catalog.snapshot("ns")).toBe(first);
    expect(t.reads.lists).toBe(1);

    await t.groups.update(group("b", 20));
    const second = await t.catalog.snapshot("ns");
    expect(second.groups.map((g) => g.group.name)).toEqual(["b", "z", "a"]);
    expect(t.reads.lists).toBe(2);
  });

  it("leaves out a group whose version does not exist", async () => {
    const t = setup();
    await t.groups.create(group("orphan", 1));
    expect((await t.catalog.snapshot("ns")).groups).toEqual([]);
  });
});
