import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigSource } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentCapabilities, PackageType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex } from "@fleetplane/platform";
import { CAPS, WsAgent, description } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "../opamp/started-topology.js";
import { configurationWith, groupFor, unique } from "./fleet-fixtures.js";

const OFFER_CAPS =
  CAPS |
  BigInt(
    AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings |
      AgentCapabilities.AgentCapabilities_ReportsOwnMetrics |
      AgentCapabilities.AgentCapabilities_AcceptsPackages,
  );

/** A group's connection settings and packages reach its agents like its configuration; an agent's own offer wins. */
export function groupOffersBehaviour(topology: Topology): void {
  describe("a group's offers", () => {
    it("a matching agent's first reply carries the group's connection settings and registered packages; a change reaches it; its own offer wins", async () => {
      const t = topology();
      const service = unique("offers");
      const cfg = unique("cfg");
      const name = unique("grp");
      const pkg = unique("collector");
      await configurationWith(t, cfg, ["c\n"]);
      await t.packages.registerPackage({
        name: pkg,
        version: "1.0.0",
        type: PackageType.PackageType_TopLevel,
        downloadUrl: `https://pkgs.example/${pkg}-1.0.0.tgz`,
        sha256: new Uint8Array(createHash("sha256").update(pkg).digest()),
      });
      const metrics = (url: string) => ({ ownMetrics: { destinationEndpoint: url } });
      const group = { ...groupFor(name, service, cfg, 1), connectionSettings: metrics("https://otlp.example/group"), packages: [{ name: pkg, version: "1.0.0" }] };
      // A package that is not registered is refused, naming the field.
      await expect(t.groups.createGroup({ group: { ...group, packages: [{ name: pkg, version: "9.9.9" }] } })).rejects.toMatchObject({ code: 5 }); // NotFound
      await t.groups.createGroup({ group });

      const a = await WsAgent.connect(t.wsUrl);
      const b = await WsAgent.connect(t.wsUrl);
      for (const agent of [a, b]) agent.send({ capabilities: OFFER_CAPS, agentDescription: description(service) as never });
      for (const agent of [a, b]) {
        const first = await eventually(() => agent.received[0]);
        expect(first.connectionSettings?.ownMetrics?.destinationEndpoint).toBe("https://otlp.example/group");
        expect(first.packagesAvailable?.packages[pkg]?.file?.downloadUrl).toBe(`https://pkgs.example/${pkg}-1.0.0.tgz`);
      }
      const { agent } = await t.agents.getAgent({ instanceUid: hex(a.uid) });
      expect(agent!.spec).toMatchObject({ connectionSettingsSource: ConfigSource.GROUP, packagesSource: ConfigSource.GROUP });
      const audit = await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(a.uid) })).commands.find((c) => c.kind === "connection_settings"));
      expect(audit.requestedBy).toBe(`group default/${name}`);

      // Agent a gets its own settings: they win, and a group change no longer touches them.
      await t.agents.setConnectionSettings({ instanceUid: hex(a.uid), offers: metrics("https://otlp.example/own"), requestedBy: "e2e" });
      await eventually(() => a.received.find((m) => m.connectionSettings?.ownMetrics?.destinationEndpoint === "https://otlp.example/own"));
      const updated = await t.groups.updateGroup({ group: { ...group, connectionSettings: metrics("https://otlp.example/group-2") } });
      expect(updated.agentsMoved).toBe(1n);
      await eventually(() => b.received.find((m) => m.connectionSettings?.ownMetrics?.destinationEndpoint === "https://otlp.example/group-2"), 10_000, "the group's new settings at b");
      const own = await t.agents.getAgent({ instanceUid: hex(a.uid) });
      expect(own.agent!.spec!.connectionSettings!.ownMetrics!.destinationEndpoint).toBe("https://otlp.example/own");
      expect(own.agent!.spec!.connectionSettingsSource).toBe(ConfigSource.AGENT);
      expect(a.received.some((m) => m.connectionSettings?.ownMetrics?.destinationEndpoint === "https://otlp.example/group-2")).toBe(false);
      await Promise.all([a.close(), b.close()]);
    });
  });
}
