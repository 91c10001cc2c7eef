import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AgentSchema, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { CommandRecordSchema, type CommandRecord } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { ConfigurationSchema, ConfigurationVersionSchema, GroupSchema, NamespaceSchema } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import {
  ConfigurationVersionConflictError,
  type AgentRepository,
  type ConfigurationRepository,
  type GroupRepository,
  type NamespaceRepository,
} from "@fleetplane/agent-service";
import type { CommandRepository } from "@fleetplane/command-service";
import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

export interface FleetStoresUnderTest {
  namespaces: NamespaceRepository;
  configurations: ConfigurationRepository;
  groups: GroupRepository;
  agents: AgentRepository;
  commands: CommandRepository;
  close(): Promise<void>;
}

/**
 * The behaviour every store of fleet resources must share (namespaces,
 * configurations and their versions, groups and their revision, agents and
 * audit records by namespace), whatever the database. `open` must return
 * empty repositories; it is called before every test.
 */
export function fleetRepositoryContract(name: string, open: () => Promise<FleetStoresUnderTest>): void {
  describe(`${name}: fleet resources`, () => {
    let s: FleetStoresUnderTest;
    beforeEach(async () => {
      s = await open();
    });
    afterEach(async () => {
      await s?.close();
    });

    it("namespaces: created once, listed in name order with paging, deleted", async () => {
      for (const n of ["team-b", "team-a", "team-c"]) expect(await s.namespaces.create(create(NamespaceSchema, { name: n, createdBy: "me" }))).toBe(true);
      expect(await s.namespaces.create(create(NamespaceSchema, { name: "team-a" }))).toBe(false);
      expect((await s.namespaces.get("team-a"))?.createdBy).toBe("me");
      expect((await s.namespaces.list({ limit: 2 })).map((n) => n.name)).toEqual(["team-a", "team-b"]);
      expect((await s.namespaces.list({ limit: 2, after: "team-b" })).map((n) => n.name)).toEqual(["team-c"]);
      expect(await s.namespaces.delete("team-b")).toBe(true);
      expect(await s.namespaces.delete("team-b")).toBe(false);
      expect(await s.namespaces.get("team-b")).toBeUndefined();
    });

    it("configurations: versions are numbered in turn, listed newest first, and go with their configuration", async () => {
      const config = configurationOf("ns", "gateway");
      expect(await s.configurations.create(config, versionOf("ns", "gateway", 1))).toBe(true);
      expect(await s.configurations.create(config, versionOf("ns", "gateway", 1))).toBe(false);
      expect(await s.configurations.any("ns")).toBe(true);
      expect(await s.configurations.any("other")).toBe(false);
      for (const v of [2, 3]) await s.configurations.addVersion({ ...config, latestVersion: v }, versionOf("ns", "gateway", v));
      // A number someone else took is a conflict, not an overwrite.
      await expect(s.configurations.addVersion({ ...config, latestVersion: 3 }, versionOf("ns", "gateway", 3, "other"))).rejects.toBeInstanceOf(ConfigurationVersionConflictError);
      expect((await s.configurations.get("ns", "gateway"))?.latestVersion).toBe(3);
      const v2 = await s.configurations.getVersion("ns", "gateway", 2);
      expect(new TextDecoder().decode(v2!.files["a.yaml"]!.body)).toBe("version 2\n");
      expect(v2!.files["a.yaml"]!.contentType).toBe("text/yaml");
      expect(new TextDecoder().decode((await s.configurations.getVersion("ns", "gateway", 3))!.files["a.yaml"]!.body)).toBe("version 3\n");
      expect((await s.configurations.listVersions("ns", "gateway", { limit: 2 })).map((v) => v.version)).toEqual([3, 2]);
      expect((await s.configurations.listVersions("ns", "gateway", { limit: 5, before: 2 })).map((v) => v.version)).toEqual([1]);
      expect(await s.configurations.getVersion("ns", "gateway", 4)).toBeUndefined();

      // Deleted with its versions; a configuration made again under the name starts afresh.
      expect(await s.configurations.delete("ns", "gateway")).toBe(true);
      expect(await s.configurations.delete("ns", "gateway")).toBe(false);
      expect(await s.configurations.getVersion("ns", "gateway", 2)).toBeUndefined();
      expect(await s.configurations.create(config, versionOf("ns", "gateway", 1, "again"))).toBe(true);
      expect(await s.configurations.getVersion("ns", "gateway", 2)).toBeUndefined();
      expect(new TextDecoder().decode((await s.configurations.getVersion("ns", "gateway", 1))!.files["a.yaml"]!.body)).toBe("again\n");
    });

    it("configurations and groups: one namespace's, in name order with paging", async () => {
      for (const [ns, n] of [["a", "x"], ["a", "z"], ["a", "y"], ["b", "x"]] as const) {
        await s.configurations.create(configurationOf(ns, n), versionOf(ns, n, 1));
        await s.groups.create(groupOf(ns, n, 0));
      }
      expect((await s.configurations.list("a", { limit: 2 })).map((c) => c.name)).toEqual(["x", "y"]);
      expect((await s.configurations.list("a", { limit: 5, after: "y" })).map((c) => c.name)).toEqual(["z"]);
      expect((await s.groups.list("a", { limit: 2 })).map((g) => g.name)).toEqual(["x", "y"]);
      expect((await s.groups.list("a", { limit: 5, after: "y" })).map((g) => g.name)).toEqual(["z"]);
      expect((await s.groups.list("b", { limit: 5 })).map((g) => g.name)).toEqual(["x"]);
      expect(await s.groups.list("c", { limit: 5 })).toEqual([]);
    });

    it("groups: every write moves the namespace's revision, and only that namespace's", async () => {
      expect(await s.groups.revision("ns")).toBe(0);
      expect(await s.groups.create(groupOf("ns", "prod", 10))).toBe(true);
      expect(await s.groups.create(groupOf("ns", "prod", 5))).toBe(false);
      const afterCreate = await s.groups.revision("ns");
      expect(afterCreate).toBeGreaterThan(0);
      expect(await s.groups.update(groupOf("ns", "prod", 20))).toBe(true);
      expect(await s.groups.update(groupOf("ns", "missing", 20))).toBe(false);
      const afterUpdate = await s.groups.revision("ns");
      expect(afterUpdate).toBeGreaterThan(afterCreate);
      expect((await s.groups.get("ns", "prod"))?.priority).toBe(20);
      expect(await s.groups.revision("other")).toBe(0);
      expect(await s.groups.delete("ns", "prod")).toBe(true);
      expect(await s.groups.delete("ns", "prod")).toBe(false);
      expect(await s.groups.revision("ns")).toBeGreaterThan(afterUpdate);
      expect(await s.groups.get("ns", "prod")).toBeUndefined();
    });

    it("agents: listed and counted by namespace (none stored: default) and filtered by label", async () => {
      const plain = agentIn(undefined, {});
      const labelled = agentIn("default", { ring: "canary" });
      const team = agentIn("team", { ring: "canary" });
      for (const a of [plain, labelled, team]) await s.agents.save(a);
      const uidsOf = (agents: Agent[]) => agents.map((a) => instanceUidToHex(a.metadata!.instanceUid)).sort();
      expect(uidsOf(await s.agents.list({ limit: 10, namespace: "default" }))).toEqual(uidsOf([plain, labelled]));
      expect(uidsOf(await s.agents.list({ limit: 10, namespace: "team" }))).toEqual(uidsOf([team]));
      expect(uidsOf(await s.agents.list({ limit: 10, labels: { ring: "canary" } }))).toEqual(uidsOf([labelled, team]));
      expect(uidsOf(await s.agents.list({ limit: 10, namespace: "default", labels: { ring: "canary" } }))).toEqual(uidsOf([labelled]));
      expect((await s.agents.summarize("team")).total).toBe(1n);
      expect((await s.agents.summarize("default")).total).toBe(2n);
      expect((await s.agents.summarize()).total).toBe(3n);
    });

    it("audit records: listed by namespace, newest first (none stored: default)", async () => {
      const records = [recordOf("1", ""), recordOf("2", "team"), recordOf("3", "default"), recordOf("4", "team")];
      for (const r of records) await s.commands.save(r);
      expect((await s.commands.list({ limit: 10, namespace: "team" })).map((r) => r.id)).toEqual([records[3]!.id, records[1]!.id]);
      expect((await s.commands.list({ limit: 10, namespace: "default" })).map((r) => r.id)).toEqual([records[2]!.id, records[0]!.id]);
      expect((await s.commands.list({ limit: 1, namespace: "team", after: records[3]!.id })).map((r) => r.id)).toEqual([records[1]!.id]);
    });
  });
}

function configurationOf(namespace: string, name: string) {
  return create(ConfigurationSchema, { namespace, name, latestVersion: 1, createdBy: "me", createdAt: timestampFromMs(1) });
}

function versionOf(namespace: string, name: string, version: number, text = `version ${version}`) {
  return create(ConfigurationVersionSchema, {
    namespace,
    configuration: name,
    version,
    files: { "a.yaml": { body: new TextEncoder().encode(`${text}\n`), contentType: "text/yaml" } },
    createdBy: "me",
    message: `v${version}`,
    configHash: new Uint8Array([version]),
  });
}

function groupOf(namespace: string, name: string, priority: number) {
  return create(GroupSchema, { namespace, name, priority, configuration: "c", configurationVersion: 1, selector: { matchLabels: { env: "prod" } } });
}

function agentIn(namespace: string | undefined, labels: Record<string, string>): Agent {
  return create(AgentSchema, { metadata: { instanceUid: uuidv7Bytes(), ...(namespace ? { namespace } : {}), labels }, spec: {}, status: {} });
}

let sequence = 0;
function recordOf(suffix: string, namespace: string): CommandRecord {
  sequence++;
  // Ids sort by creation like UUIDv7 hex.
  return create(CommandRecordSchema, { id: `0000${sequence.toString().padStart(4, "0")}${suffix}`, instanceUid: "ab".repeat(16), kind: "restart", namespace });
}
