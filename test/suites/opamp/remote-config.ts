import { describe, expect, it } from "vitest";
import { RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { RemoteConfigStatuses } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex } from "@fleetplane/platform";
import { WsAgent, description } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "./started-topology.js";

/** A remote config set by an admin is pushed to a WebSocket agent at once; its report settles the agent and the audit. */
export function remoteConfigBehaviour(topology: Topology): void {
  describe("a WebSocket agent", () => {
    it("receives a remote config pushed at once, and its Applied report is recorded with the audit", async () => {
      const t = topology();
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ agentDescription: description() as never });
      await eventually(() => agent.received[0]);

      const res = await t.agents.setRemoteConfig({
        instanceUid: hex(agent.uid),
        files: { "": { content: { case: "text", value: "receivers: {}\n" }, contentType: "text/yaml" } },
        requestedBy: "e2e",
      });
      expect(res.pushed).toBe(true);
      const push = await eventually(() => agent.received.find((m) => m.remoteConfig));
      const hash = push.remoteConfig!.configHash;
      expect(hex(hash)).toBe(hex(res.agent!.spec!.remoteConfig!.data!.hash));
      expect(new TextDecoder().decode(push.remoteConfig!.config!.configMap[""]!.body)).toBe("receivers: {}\n");

      agent.reportConfig(hash, RemoteConfigStatuses.RemoteConfigStatuses_APPLIED);
      await eventually(async () => (await t.agents.getAgent({ instanceUid: hex(agent.uid) })).agent?.spec?.remoteConfig?.data?.status === RemoteConfigState.APPLIED);
      const audit = await eventually(async () => {
        const { commands } = await t.commands.listCommands({ instanceUid: hex(agent.uid) });
        return commands[0]?.state === CommandState.APPLIED ? commands[0] : undefined;
      });
      expect(audit.kind).toBe("remote_config");
      expect(audit.requestedBy).toBe(t.adminIdentity);
      expect(audit.configHash).toBe(Buffer.from(hash).toString("hex"));

      // Never resent once the agent reports the hash.
      const before = agent.received.length;
      agent.send();
      await eventually(() => agent.received.length > before);
      expect(agent.received.at(-1)!.remoteConfig).toBeUndefined();
      await agent.close();
    });

    it("reports a failed config with the agent's error", async () => {
      const t = topology();
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ agentDescription: description() as never });
      await eventually(() => agent.received[0]);
      await t.agents.setRemoteConfig({ instanceUid: hex(agent.uid), files: { "": { content: { case: "text", value: "bad" } } } });
      const push = await eventually(() => agent.received.find((m) => m.remoteConfig));
      agent.reportConfig(push.remoteConfig!.configHash, RemoteConfigStatuses.RemoteConfigStatuses_FAILED, "bad yaml at line 1");
      const stored = await eventually(async () => {
        const { agent: a } = await t.agents.getAgent({ instanceUid: hex(agent.uid) });
        return a?.spec?.remoteConfig?.data?.status === RemoteConfigState.FAILED ? a : undefined;
      });
      expect(stored.spec!.remoteConfig!.lastErrorMessage).toBe("bad yaml at line 1");
      const failed = await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands.find((c) => c.state === CommandState.FAILED));
      expect(failed.detail).toBe("bad yaml at line 1");
      await agent.close();
    });
  });
}
