import { describe, expect, it } from "vitest";
import { ConfigSource } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { RemoteConfigStatuses } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { WsAgent, description, httpPoll } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "../opamp/started-topology.js";
import { bodyOf, configurationWith, groupFor, unique } from "./fleet-fixtures.js";

/** Agents join the group their description selects, on their first message, and move when it changes. */
export function assignmentBehaviour(topology: Topology): void {
  describe("automatic assignment", () => {
    it("a new agent's first reply carries its group's configuration, over WebSocket and HTTP", async () => {
      const t = topology();
      const service = unique("checkout");
      const cfg = unique("cfg");
      await configurationWith(t, cfg, ["v1: true\n"]);
      await t.groups.createGroup({ group: groupFor(unique("grp"), service, cfg, 1) });

      const ws = await WsAgent.connect(t.wsUrl);
      ws.send({ agentDescription: description(service) as never });
      const first = await eventually(() => ws.received[0]);
      expect(bodyOf(first)).toBe("v1: true\n");

      const uid = uuidv7Bytes();
      const poll = await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: 0n, agentDescription: description(service) as never });
      expect(bodyOf(poll.message)).toBe("v1: true\n");

      const { agent } = await t.agents.getAgent({ instanceUid: hex(ws.uid) });
      expect(agent!.metadata!.namespace).toBe("default");
      expect(agent!.spec!.assignment).toMatchObject({ source: ConfigSource.GROUP, configuration: cfg, version: 1 });
      const audit = await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(ws.uid) })).commands[0]);
      expect(audit).toMatchObject({ kind: "remote_config", namespace: "default" });
      expect(audit.requestedBy).toMatch(/^group default\//);
      await ws.close();
    });

    it("the highest priority wins; a tie goes to the name that sorts first and shows on both groups", async () => {
      const t = topology();
      const service = unique("prio");
      const cfg = unique("cfg");
      await configurationWith(t, cfg, ["low\n", "high\n", "tie\n"]);
      await t.groups.createGroup({ group: groupFor(`b-${unique("low")}`, service, cfg, 1, 1) });
      const high = `m-${unique("high")}`;
      await t.groups.createGroup({ group: groupFor(high, service, cfg, 2, 10) });
      const ws = await WsAgent.connect(t.wsUrl);
      ws.send({ agentDescription: description(service) as never });
      expect(bodyOf(await eventually(() => ws.received[0]))).toBe("high\n");

      const tie = `a-${unique("tie")}`;
      const created = await t.groups.createGroup({ group: groupFor(tie, service, cfg, 3, 10) });
      expect(created.agentsMoved).toBe(1n);
      const pushed = await eventually(() => ws.received.find((m) => bodyOf(m) === "tie\n"));
      expect(pushed).toBeDefined();
      const { agent } = await t.agents.getAgent({ instanceUid: hex(ws.uid) });
      expect(agent!.spec!.assignment).toMatchObject({ source: ConfigSource.GROUP, group: tie, tiedWith: [high] });
      const winner = await t.groups.getGroup({ name: tie });
      const loser = await t.groups.getGroup({ name: high });
      expect(winner.status).toMatchObject({ matched: 1n, assigned: 1n, connected: 1n, tiedWith: [high] });
      expect(loser.status).toMatchObject({ matched: 1n, assigned: 0n, tiedWith: [tie] });
      await ws.close();
    });

    it("an agent whose attributes change moves to its new group", async () => {
      const t = topology();
      const [dev, prod] = [unique("dev"), unique("prod")];
      const cfg = unique("cfg");
      await configurationWith(t, cfg, ["dev\n", "prod\n"]);
      await t.groups.createGroup({ group: groupFor(unique("dev"), dev, cfg, 1) });
      await t.groups.createGroup({ group: groupFor(unique("prod"), prod, cfg, 2) });
      const ws = await WsAgent.connect(t.wsUrl);
      ws.send({ agentDescription: description(dev) as never });
      expect(bodyOf(await eventually(() => ws.received[0]))).toBe("dev\n");
      ws.send({ agentDescription: description(prod) as never });
      expect(bodyOf(await eventually(() => ws.received[1]))).toBe("prod\n");
      // A heartbeat after that carries nothing new.
      ws.reportConfig(ws.received[1]!.remoteConfig!.configHash, RemoteConfigStatuses.RemoteConfigStatuses_APPLIED);
      await eventually(() => ws.received[2]);
      expect(ws.received[2]!.remoteConfig).toBeUndefined();
      await ws.close();
    });

    it("labels set by an admin move the agent, and ListAgents filters by them", async () => {
      const t = topology();
      const service = unique("labelled");
      const canary = unique("canary");
      const cfg = unique("cfg");
      await configurationWith(t, cfg, ["plain\n", "canary\n"]);
      await t.groups.createGroup({ group: groupFor(unique("plain"), service, cfg, 1) });
      await t.groups.createGroup({ group: { name: unique("canary"), priority: 5, configuration: cfg, configurationVersion: 2, selector: { matchLabels: { ring: canary } } } });
      const ws = await WsAgent.connect(t.wsUrl);
      ws.send({ agentDescription: description(service) as never });
      expect(bodyOf(await eventually(() => ws.received[0]))).toBe("plain\n");

      const set = await t.agents.setAgentLabels({ instanceUid: hex(ws.uid), labels: { ring: canary } });
      expect(set.pushed).toBe(true);
      expect(set.agent!.metadata!.labels).toEqual({ ring: canary });
      await eventually(() => ws.received.find((m) => bodyOf(m) === "canary\n"));
      const listed = await t.agents.listAgents({ filter: { labels: { ring: canary } } });
      expect(listed.agents.map((a) => hex(a.metadata!.instanceUid))).toEqual([hex(ws.uid)]);
      const audit = await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(ws.uid) })).commands.find((c) => c.kind === "labels"));
      expect(audit.namespace).toBe("default");

      await expect(t.agents.setAgentLabels({ instanceUid: hex(ws.uid), labels: { "bad key!": "x" } })).rejects.toMatchObject({ code: 3, rawMessage: expect.stringContaining("labels: key") });
      await ws.close();
    });

    it("an agent's own config wins over its group; clearing it falls back to the group", async () => {
      const t = topology();
      const service = unique("override");
      const cfg = unique("cfg");
      await configurationWith(t, cfg, ["group\n"]);
      await t.groups.createGroup({ group: groupFor(unique("grp"), service, cfg, 1) });
      const ws = await WsAgent.connect(t.wsUrl);
      ws.send({ agentDescription: description(service) as never });
      expect(bodyOf(await eventually(() => ws.received[0]))).toBe("group\n");

      const own = await t.agents.setRemoteConfig({ instanceUid: hex(ws.uid), files: { "": { content: { case: "text", value: "own\n" } } } });
      expect(own.agent!.spec!.assignment!.source).toBe(ConfigSource.AGENT);
      await eventually(() => ws.received.find((m) => bodyOf(m) === "own\n"));
      // A new description does not take the agent's own config away.
      const before = ws.received.length;
      ws.send({ agentDescription: description(service) as never });
      const reply = await eventually(() => ws.received[before]);
      expect(bodyOf(reply)).not.toBe("group\n");

      const cleared = await t.agents.clearRemoteConfig({ instanceUid: hex(ws.uid) });
      expect(cleared.agent!.spec!.assignment!.source).toBe(ConfigSource.GROUP);
      expect(cleared.pushed).toBe(true);
      await eventually(() => ws.received.filter((m) => bodyOf(m) === "group\n").length === 2);
      await ws.close();
    });
  });
}
