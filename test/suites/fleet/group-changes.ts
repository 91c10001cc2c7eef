import { describe, expect, it } from "vitest";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { WsAgent, description, httpPoll } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "../opamp/started-topology.js";
import { bodyOf, configurationWith, groupFor, unique } from "./fleet-fixtures.js";

/** A group's version change reaches its agents wherever they are connected. */
export function groupChangesBehaviour(topology: Topology): void {
  describe("a group's version change", () => {
    it("reaches connected WebSocket agents at once and HTTP agents on their next poll, on every gateway", async () => {
      const t = topology();
      const service = unique("rollout");
      const cfg = unique("cfg");
      const group = unique("grp");
      await configurationWith(t, cfg, ["one\n", "two\n"]);
      await t.groups.createGroup({ group: groupFor(group, service, cfg, 1) });

      const ws = await Promise.all(t.opampUrls.map((u) => WsAgent.connect(u.wsUrl)));
      for (const a of ws) a.send({ agentDescription: description(service) as never });
      for (const a of ws) expect(bodyOf(await eventually(() => a.received[0]))).toBe("one\n");
      const http = t.opampUrls.map((u) => ({ url: u.httpUrl, uid: uuidv7Bytes() }));
      for (const h of http) expect(bodyOf((await httpPoll(h.url, { instanceUid: h.uid, sequenceNum: 0n, agentDescription: description(service) as never })).message)).toBe("one\n");

      const updated = await t.groups.updateGroup({ group: groupFor(group, service, cfg, 2) });
      expect(updated.agentsMoved).toBe(BigInt(ws.length + http.length));
      for (const a of ws) await eventually(() => a.received.find((m) => bodyOf(m) === "two\n"), 10_000, `the push to ${hex(a.uid)}`);
      for (const h of http) expect(bodyOf((await httpPoll(h.url, { instanceUid: h.uid, sequenceNum: 1n })).message)).toBe("two\n");

      const { status } = await t.groups.getGroup({ name: group });
      expect(status).toMatchObject({ matched: BigInt(ws.length + http.length), assigned: BigInt(ws.length + http.length) });
      await Promise.all(ws.map((a) => a.close()));
    });

    it("deleting a group leaves its agents without a configuration; deleting a configuration in use is refused", async () => {
      const t = topology();
      const service = unique("gone");
      const cfg = unique("cfg");
      const group = unique("grp");
      await configurationWith(t, cfg, ["x\n"]);
      await t.groups.createGroup({ group: groupFor(group, service, cfg, 1) });
      const ws = await WsAgent.connect(t.wsUrl);
      ws.send({ agentDescription: description(service) as never });
      await eventually(() => ws.received[0]);

      await expect(t.configurations.deleteConfiguration({ name: cfg })).rejects.toMatchObject({ code: 9, rawMessage: expect.stringContaining(group) }); // FailedPrecondition
      expect((await t.groups.deleteGroup({ name: group })).agentsMoved).toBe(1n);
      const { agent } = await t.agents.getAgent({ instanceUid: hex(ws.uid) });
      expect(agent!.spec!.remoteConfig).toBeUndefined();
      await t.configurations.deleteConfiguration({ name: cfg });
      await expect(t.configurations.getConfiguration({ name: cfg })).rejects.toMatchObject({ code: 5 });
      await ws.close();
    });
  });
}
