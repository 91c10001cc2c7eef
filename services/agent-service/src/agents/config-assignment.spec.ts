import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ConfigSource, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { GroupSchema, type Group } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { AgentConfigMapSchema, AgentDescriptionSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { agentSelectorKeys } from "../fleet/agent-selector-keys.js";
import { configOf } from "../fleet/group-catalog.js";
import { byPrecedence, chooseGroup, type CatalogGroup } from "../fleet/group-precedence.js";
import { applyRemoteConfig, newAgent } from "./agent-model.js";
import { assignConfiguration, assignmentUpToDate, clearOwnConfig, markOwnConfig, pinVersion } from "./config-assignment.js";

const text = new TextEncoder();

function group(name: string, priority: number, matchLabels: Record<string, string>, body = `${name}\n`): CatalogGroup {
  const g: Group = create(GroupSchema, { namespace: "default", name, priority, selector: { matchLabels }, configuration: name, configurationVersion: 1 });
  return { group: g, ...configOf({ "": { body: text.encode(body), contentType: "text/yaml" } }) };
}

function agentWith(attributes: Record<string, string>, labels: Record<string, string> = {}): Agent {
  const agent = newAgent(new Uint8Array(16).fill(1), 0);
  agent.metadata!.description = create(AgentDescriptionSchema, {
    identifyingAttributes: Object.entries(attributes).map(([key, value]) => ({ key, value: { value: { case: "stringValue" as const, value } } })),
  });
  agent.metadata!.labels = labels;
  return agent;
}

const sorted = (...groups: CatalogGroup[]) => [...groups].sort((a, b) => byPrecedence(a.group, b.group));
const options = { now: 1, commandId: () => "cmd", requestedBy: (g: string) => `group default/${g}` };

describe("which group an agent belongs to", () => {
  it("the highest priority wins", () => {
    const choice = chooseGroup(sorted(group("all", 1, {}), group("prod", 10, { env: "prod" })), agentSelectorKeys(agentWith({ env: "prod" })));
    expect(choice.winner?.group.name).toBe("prod");
    expect(choice.tiedWith).toEqual([]);
  });

  it("a tie goes to the name that sorts first, and names the other groups", () => {
    const groups = sorted(group("zeta", 5, {}), group("alpha", 5, {}), group("mid", 5, { env: "dev" }), group("low", 1, {}));
    const choice = chooseGroup(groups, agentSelectorKeys(agentWith({ env: "prod" })));
    expect(choice.winner?.group.name).toBe("alpha");
    expect(choice.tiedWith).toEqual(["zeta"]);
  });

  it("labels win over attributes of the same key, identifying over non-identifying", () => {
    const agent = agentWith({ env: "prod" }, { env: "canary" });
    agent.metadata!.description!.nonIdentifyingAttributes = [{ $typeName: "opamp.proto.v1.KeyValue", key: "host", value: { $typeName: "opamp.proto.v1.AnyValue", value: { case: "stringValue", value: "b" } } }];
    agent.metadata!.description!.identifyingAttributes.push({ $typeName: "opamp.proto.v1.KeyValue", key: "host", value: { $typeName: "opamp.proto.v1.AnyValue", value: { case: "stringValue", value: "a" } } });
    const keys = agentSelectorKeys(agent);
    expect(keys("env")).toBe("canary");
    expect(keys("host")).toBe("a");
    expect(keys("missing")).toBeUndefined();
  });

  it("no group matches: none", () => {
    expect(chooseGroup(sorted(group("prod", 1, { env: "prod" })), agentSelectorKeys(agentWith({ env: "dev" }))).winner).toBeUndefined();
  });
});

describe("an agent's desired configuration", () => {
  it("comes from its group, with one command, and nothing more when nothing changed", () => {
    const agent = agentWith({ env: "prod" });
    const prod = group("prod", 1, { env: "prod" });
    const choice = chooseGroup([prod], agentSelectorKeys(agent));
    const first = assignConfiguration(agent, choice, options);
    expect(first.changed).toBe(true);
    expect(first.command?.id).toBe("cmd");
    expect(agent.spec!.remoteConfig!.data!.hash).toEqual(prod.hash);
    expect(agent.spec!.remoteConfig!.data!.updatedBy).toBe("group default/prod");
    expect(agent.spec!.assignment).toMatchObject({ source: ConfigSource.GROUP, group: "prod", configuration: "prod", version: 1 });
    expect(assignmentUpToDate(agent, choice)).toBe(true);
    expect(assignConfiguration(agent, choice, options)).toEqual({ changed: false, transitions: [] });
  });

  it("an admin's own config wins over every group; clearing it falls back to the group", () => {
    const agent = agentWith({ env: "prod" });
    applyRemoteConfig(agent, create(AgentConfigMapSchema, { configMap: { "": { body: text.encode("own"), contentType: "" } } }), { commandId: "own", requestedBy: "admin", now: 1 });
    markOwnConfig(agent);
    const ownHash = agent.spec!.remoteConfig!.data!.hash;
    const prod = group("prod", 1, { env: "prod" });
    const outcome = assignConfiguration(agent, chooseGroup([prod], agentSelectorKeys(agent)), options);
    expect(outcome.command).toBeUndefined();
    expect(agent.spec!.remoteConfig!.data!.hash).toEqual(ownHash);
    expect(agent.spec!.assignment).toMatchObject({ source: ConfigSource.AGENT, group: "prod" });

    clearOwnConfig(agent);
    const back = assignConfiguration(agent, chooseGroup([prod], agentSelectorKeys(agent)), options);
    expect(back.command).toBeDefined();
    expect(agent.spec!.remoteConfig!.data!.hash).toEqual(prod.hash);
    expect(agent.spec!.assignment!.source).toBe(ConfigSource.GROUP);
  });

  it("an agent stored with a config before assignments existed keeps it as its own", () => {
    const agent = agentWith({ env: "prod" });
    applyRemoteConfig(agent, create(AgentConfigMapSchema, { configMap: { "": { body: text.encode("legacy"), contentType: "" } } }), { commandId: "old", requestedBy: "admin", now: 1 });
    const outcome = assignConfiguration(agent, chooseGroup([group("prod", 1, {})], agentSelectorKeys(agent)), options);
    expect(outcome.command).toBeUndefined();
    expect(agent.spec!.assignment!.source).toBe(ConfigSource.AGENT);
  });

  it("leaving every group drops the group's config and supersedes its undelivered command", () => {
    const agent = agentWith({ env: "prod" });
    assignConfiguration(agent, chooseGroup([group("prod", 1, { env: "prod" })], agentSelectorKeys(agent)), options);
    agent.metadata!.labels = { env: "dev" };
    const outcome = assignConfiguration(agent, chooseGroup([group("prod", 1, { env: "prod" })], agentSelectorKeys(agent)), options);
    expect(outcome.changed).toBe(true);
    expect(outcome.transitions).toEqual([{ commandId: "cmd", to: "superseded", detail: expect.any(String) }]);
    expect(agent.spec!.remoteConfig).toBeUndefined();
    expect(agent.spec!.assignment!.source).toBe(ConfigSource.NONE);
  });
});

describe("a rollout's pin", () => {
  const v1 = group("web", 0, {}, "v1\n");
  const v2 = configOf({ "": { body: text.encode("v2\n"), contentType: "text/yaml" } });
  const pin = { group: "web", configuration: "web", version: 2, rollout: "r1", ...v2 };
  const pinOptions = { now: 2, commandId: () => "pin-cmd", requestedBy: "rollout default/r1" };
  const inRollout = (rollout: string): CatalogGroup => ({ ...v1, group: create(GroupSchema, { ...v1.group, rollout }) });

  it("gives a group agent the stage's version once (a repeat changes nothing), and leaves others alone", () => {
    const agent = agentWith({});
    assignConfiguration(agent, chooseGroup([v1], agentSelectorKeys(agent)), options);
    const pinned = pinVersion(agent, pin, pinOptions);
    expect(pinned).toMatchObject({ changed: true, command: expect.objectContaining({ id: "pin-cmd" }) });
    expect(agent.spec!.assignment).toMatchObject({ source: ConfigSource.GROUP, group: "web", version: 2, rollout: "r1" });
    expect(pinVersion(agent, pin, pinOptions)).toEqual({ changed: false, transitions: [] });

    const own = agentWith({});
    applyRemoteConfig(own, create(AgentConfigMapSchema, {}), { commandId: "c", requestedBy: "admin", now: 1 });
    markOwnConfig(own);
    expect(pinVersion(own, pin, pinOptions)).toBe("own configuration");
    expect(pinVersion(agentWith({}), pin, pinOptions)).toBe("not in the group");
  });

  it("holds while the group names the rollout (a re-described agent keeps it), and gives way when it no longer does", () => {
    const agent = agentWith({});
    assignConfiguration(agent, chooseGroup([v1], agentSelectorKeys(agent)), options);
    pinVersion(agent, pin, pinOptions);
    const held = chooseGroup([inRollout("r1")], agentSelectorKeys(agent));
    expect(assignmentUpToDate(agent, held)).toBe(true);
    expect(assignConfiguration(agent, held, options)).toMatchObject({ changed: false });
    expect(agent.spec!.assignment!.version).toBe(2);

    const released = chooseGroup([inRollout("r2")], agentSelectorKeys(agent));
    expect(assignmentUpToDate(agent, released)).toBe(false);
    const moved = assignConfiguration(agent, released, options);
    expect(moved.command).toBeDefined();
    expect(agent.spec!.assignment).toMatchObject({ version: 1, rollout: "" });
  });
});
