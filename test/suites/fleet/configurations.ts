import { describe, expect, it } from "vitest";
import { FileChange, LineChange } from "@fleetplane/gen/fleetplane/fleet/v1/configuration_service_pb";
import type { Topology } from "../opamp/started-topology.js";
import { unique, yaml } from "./fleet-fixtures.js";

/** Configurations keep immutable numbered versions, listed, fetched and compared. */
export function configurationsBehaviour(topology: Topology): void {
  describe("configurations", () => {
    it("number versions, skip an identical one, list them newest first and diff them per file", async () => {
      const t = topology();
      const name = unique("cfg");
      const created = await t.configurations.createConfiguration({ name, files: yaml("a: 1\nb: 2\n"), message: "start" });
      expect(created.version).toMatchObject({ version: 1, message: "start", createdBy: t.adminIdentity, fileNames: [""] });
      const second = await t.configurations.createConfigurationVersion({ name, files: { ...yaml("a: 1\nb: 3\n"), "extra.yaml": { body: new TextEncoder().encode("c: 4\n"), contentType: "text/yaml" } }, message: "b to 3" });
      expect(second).toMatchObject({ created: true, version: { version: 2 }, configuration: { latestVersion: 2 } });
      const again = await t.configurations.createConfigurationVersion({ name, files: { ...yaml("a: 1\nb: 3\n"), "extra.yaml": { body: new TextEncoder().encode("c: 4\n"), contentType: "text/yaml" } } });
      expect(again).toMatchObject({ created: false, version: { version: 2 } });

      const versions = await t.configurations.listConfigurationVersions({ name, pageSize: 1 });
      expect(versions.versions.map((v) => v.version)).toEqual([2]);
      const rest = await t.configurations.listConfigurationVersions({ name, pageToken: versions.nextPageToken });
      expect(rest.versions.map((v) => v.version)).toEqual([1]);
      const latest = await t.configurations.getConfigurationVersion({ name });
      expect(latest.version!.version).toBe(2);
      expect(new TextDecoder().decode(latest.version!.files["extra.yaml"]!.body)).toBe("c: 4\n");

      const { files } = await t.configurations.diffConfigurationVersions({ name, fromVersion: 1, toVersion: 2 });
      expect(files.map((f) => [f.name, f.change])).toEqual([
        ["", FileChange.MODIFIED],
        ["extra.yaml", FileChange.ADDED],
      ]);
      expect(files[0]!.lines.map((l) => [l.change, l.text])).toEqual([
        [LineChange.KEPT, "a: 1"],
        [LineChange.REMOVED, "b: 2"],
        [LineChange.ADDED, "b: 3"],
      ]);

      await expect(t.configurations.createConfiguration({ name, files: yaml("x") })).rejects.toMatchObject({ code: 6 });
      await expect(t.configurations.getConfigurationVersion({ name, version: 9 })).rejects.toMatchObject({ code: 5, rawMessage: expect.stringContaining("no version 9") });
      await expect(t.configurations.createConfiguration({ name: "Bad_Name", files: yaml("x") })).rejects.toMatchObject({ code: 3, rawMessage: expect.stringContaining("name") });
      await expect(t.configurations.createConfiguration({ name: unique("empty"), files: {} })).rejects.toMatchObject({ code: 3, rawMessage: expect.stringContaining("files") });
    });

    it("refuse groups with an invalid selector, an unknown version or a taken name", async () => {
      const t = topology();
      const cfg = unique("cfg");
      await t.configurations.createConfiguration({ name: cfg, files: yaml("x\n") });
      const group = { name: unique("grp"), configuration: cfg, configurationVersion: 1, selector: { matchExpressions: [{ key: "env", operator: "Equals", values: ["a"] }] } };
      await expect(t.groups.createGroup({ group })).rejects.toMatchObject({ code: 3, rawMessage: expect.stringContaining("group.selector.match_expressions[0].operator") });
      await expect(t.groups.createGroup({ group: { ...group, selector: { matchLabels: { "": "x" } } } })).rejects.toMatchObject({ code: 3, rawMessage: expect.stringContaining("empty key") });
      await expect(t.groups.createGroup({ group: { ...group, selector: {}, configurationVersion: 7 } })).rejects.toMatchObject({ code: 5, rawMessage: expect.stringContaining("group.configuration_version") });
      await expect(t.groups.createGroup({ group: { ...group, selector: {}, configuration: unique("none") } })).rejects.toMatchObject({ code: 5 });
      const ok = { ...group, selector: { matchLabels: { "service.name": unique("nobody") } } };
      await t.groups.createGroup({ group: ok });
      await expect(t.groups.createGroup({ group: ok })).rejects.toMatchObject({ code: 6, rawMessage: expect.stringContaining("group.name") });
      await expect(t.groups.updateGroup({ group: { ...ok, name: unique("missing") } })).rejects.toMatchObject({ code: 5 });
      await t.groups.deleteGroup({ name: ok.name });
    });
  });
}
