import { describe, expect, it } from "vitest";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { WsAgent, description } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "../opamp/started-topology.js";
import { configurationWith, groupFor, unique, yaml } from "./fleet-fixtures.js";

/** Nothing in one namespace sees or changes another's. */
export function namespacesBehaviour(topology: Topology): void {
  describe("namespaces", () => {
    it("isolate agents, configurations, groups and the audit trail", async () => {
      const t = topology();
      const ns = unique("team");
      await t.namespaces.createNamespace({ name: ns });
      expect((await t.namespaces.listNamespaces({})).namespaces.map((n) => n.name)).toEqual(expect.arrayContaining(["default", ns]));

      // A default agent is not found from the other namespace, for reads and mutations.
      const ws = await WsAgent.connect(t.wsUrl);
      ws.send({ agentDescription: description(unique("iso")) as never });
      await eventually(() => ws.received[0]);
      await expect(t.agents.getAgent({ instanceUid: hex(ws.uid), namespace: ns })).rejects.toMatchObject({ code: 5 });
      await expect(t.agents.setRemoteConfig({ instanceUid: hex(ws.uid), namespace: ns, files: { "": { content: { case: "text", value: "x" } } } })).rejects.toMatchObject({ code: 5 });
      await expect(t.agents.setAgentLabels({ instanceUid: hex(ws.uid), namespace: ns, labels: { a: "b" } })).rejects.toMatchObject({ code: 5 });
      await expect(t.agents.sendCommand({ instanceUid: hex(ws.uid), namespace: ns, kind: 2 })).rejects.toMatchObject({ code: 5 });

      // An agent given a config in the namespace is created there, and listed only there.
      const other = uuidv7Bytes();
      await t.agents.setRemoteConfig({ instanceUid: hex(other), namespace: ns, files: { "": { content: { case: "text", value: "mine" } } } });
      const inNs = await t.agents.listAgents({ namespace: ns });
      expect(inNs.agents.map((a) => hex(a.metadata!.instanceUid))).toEqual([hex(other)]);
      const inDefault = await t.agents.listAgents({ pageSize: 1000 });
      expect(inDefault.agents.map((a) => hex(a.metadata!.instanceUid))).not.toContain(hex(other));
      await expect(t.agents.getAgent({ instanceUid: hex(other) })).rejects.toMatchObject({ code: 5 });

      // Configurations and groups of the namespace stay there.
      const cfg = unique("cfg");
      await configurationWith(t, cfg, ["ns\n"], ns);
      await t.groups.createGroup({ group: groupFor(unique("grp"), "nobody", cfg, 1, 0, ns) });
      expect((await t.configurations.listConfigurations({ namespace: ns })).configurations.map((c) => c.name)).toEqual([cfg]);
      expect((await t.configurations.listConfigurations({})).configurations.map((c) => c.name)).not.toContain(cfg);
      await expect(t.configurations.getConfiguration({ name: cfg })).rejects.toMatchObject({ code: 5 });
      // A group of default cannot use it.
      await expect(t.groups.createGroup({ group: groupFor(unique("grp"), "nobody", cfg, 1) })).rejects.toMatchObject({ code: 5, rawMessage: expect.stringContaining("group.configuration: configuration") });
      await expect(t.groups.createGroup({ group: groupFor(unique("grp"), "nobody", `${ns}/${cfg}`, 1) })).rejects.toMatchObject({ code: 3, rawMessage: expect.stringContaining("group.configuration") });

      const audit = await eventually(async () => {
        const { commands } = await t.commands.listCommands({ namespace: ns, pageSize: 100 });
        return commands.length >= 4 ? commands : undefined;
      });
      expect(audit.every((c) => c.namespace === ns)).toBe(true);
      expect(audit.map((c) => c.kind)).toEqual(expect.arrayContaining(["namespace_created", "configuration_created", "group_created", "remote_config"]));

      // A namespace that holds anything is not deleted.
      await expect(t.namespaces.deleteNamespace({ name: ns })).rejects.toMatchObject({ code: 9, rawMessage: expect.stringContaining("agents, groups, configurations") });
      await expect(t.namespaces.deleteNamespace({ name: "default" })).rejects.toMatchObject({ code: 9 });
      await expect(t.namespaces.createNamespace({ name: ns })).rejects.toMatchObject({ code: 6 }); // AlreadyExists
      await expect(t.configurations.createConfiguration({ namespace: unique("missing"), name: cfg, files: yaml("x") })).rejects.toMatchObject({ code: 5, rawMessage: expect.stringContaining("namespace") });
      await ws.close();
    });
  });
}
