import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CommandKind, ConnectionSchema, ConnectionType, RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import {
  AgentCapabilities,
  AgentConfigMapSchema,
  AgentToServerSchema,
  CommandType,
  RemoteConfigStatuses,
  ServerToAgentFlags,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { applyRemoteConfig, markDelivered, newAgent, pendingCommands, queueCommand, report } from "./agent-model.js";
import { computeConfigHash } from "./config-hash.js";
import { buildServerToAgent } from "./server-to-agent-builder.js";

const uid = new Uint8Array(16).fill(7);
const caps = BigInt(AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig | AgentCapabilities.AgentCapabilities_ReportsRemoteConfig | AgentCapabilities.AgentCapabilities_AcceptsRestartCommand);
const conn = create(ConnectionSchema, { id: "gw/ws/1", type: ConnectionType.WEBSOCKET, gatewayId: "gw" });
const config = (text: string, name = "") =>
  create(AgentConfigMapSchema, { configMap: { [name]: { $typeName: "opamp.proto.v1.AgentConfigFile", body: new TextEncoder().encode(text), contentType: "text/yaml" } } });
const msg = (fields: object = {}) => create(AgentToServerSchema, { instanceUid: uid, capabilities: caps, ...fields });

describe("computeConfigHash", () => {
  it("depends on names, content types and bodies but not on file order", () => {
    const a = create(AgentConfigMapSchema, { configMap: { a: config("1", "a").configMap.a!, b: config("2", "b").configMap.b! } });
    const b = create(AgentConfigMapSchema, { configMap: { b: config("2", "b").configMap.b!, a: config("1", "a").configMap.a! } });
    expect(computeConfigHash(a)).toEqual(computeConfigHash(b));
    expect(computeConfigHash(config("x"))).not.toEqual(computeConfigHash(config("y")));
    expect(computeConfigHash(config("x", "one"))).not.toEqual(computeConfigHash(config("x", "two")));
    expect(computeConfigHash(config("x"))).toHaveLength(32);
  });
});

describe("the command lifecycle", () => {
  it("queues RemoteConfigUpdated with the hash, supersedes an undelivered one, and keeps a bounded history", () => {
    const agent = newAgent(uid, 0);
    const first = applyRemoteConfig(agent, config("a"), { commandId: "c1", requestedBy: "me", now: 1 });
    expect(first.command.kind).toBe(CommandKind.REMOTE_CONFIG_UPDATED);
    expect(first.command.configHash).toEqual(computeConfigHash(config("a")));
    const second = applyRemoteConfig(agent, config("b"), { commandId: "c2", requestedBy: "me", now: 2 });
    expect(second.transitions).toEqual([{ commandId: "c1", to: "superseded", detail: expect.any(String) }]);
    expect(pendingCommands(agent).map((c) => c.id)).toEqual(["c2"]);
    for (let i = 0; i < 30; i++) {
      queueCommand(agent, CommandKind.REPORT_FULL_STATE, { commandId: `r${i}`, requestedBy: "me", now: 3 });
      markDelivered(agent, [`r${i}`], 4);
    }
    expect(pendingCommands(agent).map((c) => c.id)).toEqual(["c2"]);
    expect(agent.commands.length).toBe(21);
  });
});

describe("report()", () => {
  it("applies the description, capabilities and health, and asks an unknown agent without description for its full state", () => {
    const agent = newAgent(uid, 0);
    const unknown = report(agent, msg({ sequenceNum: 0n }), conn, { now: 1, known: false });
    expect(unknown.needsFullState).toBe(true);
    const full = report(agent, msg({ sequenceNum: 1n, agentDescription: {}, health: { healthy: true } }), conn, { now: 2, known: true });
    expect(full.needsFullState).toBe(false);
    expect(full.changed).toBe(true);
    expect(agent.status!.health!.healthy).toBe(true);
    expect(agent.metadata!.capabilities).toBe(caps);
    expect(agent.status!.connected).toBe(true);
    const heartbeat = report(agent, msg({ sequenceNum: 2n }), conn, { now: 3, known: true });
    expect(heartbeat.changed).toBe(false);
    const gap = report(agent, msg({ sequenceNum: 9n }), conn, { now: 4, known: true });
    expect(gap.needsFullState).toBe(true);
  });

  it("moves the remote config to Applying, Applied or Failed only for the hash it describes", () => {
    const agent = newAgent(uid, 0);
    applyRemoteConfig(agent, config("a"), { commandId: "c1", requestedBy: "me", now: 1 });
    const hash = agent.spec!.remoteConfig!.data!.hash;
    report(agent, msg({ remoteConfigStatus: { lastRemoteConfigHash: new Uint8Array([1]), status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED } }), conn, { now: 2, known: true });
    expect(agent.spec!.remoteConfig!.data!.status).toBe(RemoteConfigState.UNSET);
    report(agent, msg({ sequenceNum: 1n, remoteConfigStatus: { lastRemoteConfigHash: hash, status: RemoteConfigStatuses.RemoteConfigStatuses_APPLYING } }), conn, { now: 3, known: true });
    expect(agent.spec!.remoteConfig!.data!.status).toBe(RemoteConfigState.APPLYING);
    const failed = report(agent, msg({ sequenceNum: 2n, remoteConfigStatus: { lastRemoteConfigHash: hash, status: RemoteConfigStatuses.RemoteConfigStatuses_FAILED, errorMessage: "boom" } }), conn, { now: 4, known: true });
    expect(agent.spec!.remoteConfig!.data!.status).toBe(RemoteConfigState.FAILED);
    expect(agent.spec!.remoteConfig!.lastErrorMessage).toBe("boom");
    expect(failed.transitions).toEqual([{ commandId: "c1", to: "failed", detail: "boom" }]);
  });

  it("supersedes an older delivered config once when a newer one settles, and not again at the next: one settled is not audited twice", () => {
    const agent = newAgent(uid, 0);
    const applied = (hash: Uint8Array, sequenceNum: bigint) =>
      report(agent, msg({ sequenceNum, remoteConfigStatus: { lastRemoteConfigHash: hash, status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED } }), conn, { now: Number(sequenceNum) + 10, known: true }).transitions;
    // v1 delivered, never reported; v2 delivered and applied: v1 is superseded then.
    applyRemoteConfig(agent, config("v1"), { commandId: "c1", requestedBy: "me", now: 1 });
    markDelivered(agent, ["c1"], 2);
    applyRemoteConfig(agent, config("v2"), { commandId: "c2", requestedBy: "me", now: 3 });
    markDelivered(agent, ["c2"], 4);
    expect(applied(agent.spec!.remoteConfig!.data!.hash, 1n)).toEqual([
      { commandId: "c2", to: "applied", detail: "" },
      { commandId: "c1", to: "superseded", detail: expect.any(String) },
    ]);
    // v3 applied: only v3's own transition; v1 and v2 settled already.
    applyRemoteConfig(agent, config("v3"), { commandId: "c3", requestedBy: "me", now: 5 });
    markDelivered(agent, ["c3"], 6);
    expect(applied(agent.spec!.remoteConfig!.data!.hash, 2n)).toEqual([{ commandId: "c3", to: "applied", detail: "" }]);
    expect(agent.commands.map((c) => [c.id, c.settledAt !== undefined])).toEqual([["c1", true], ["c2", true], ["c3", true]]);
  });

  it("marks the agent disconnected on agent_disconnect", () => {
    const agent = newAgent(uid, 0);
    report(agent, msg({ agentDescription: {} }), conn, { now: 1, known: false });
    const bye = report(agent, msg({ sequenceNum: 1n, agentDisconnect: {} }), conn, { now: 2, known: true });
    expect(bye.disconnected).toBe(true);
    expect(agent.status!.connected).toBe(false);
  });
});

describe("fetchServerToAgent (buildServerToAgent)", () => {
  it("sends the config only while the agent reports another hash, and marks its command delivered", () => {
    const agent = newAgent(uid, 0);
    report(agent, msg({ agentDescription: {} }), conn, { now: 1, known: false });
    applyRemoteConfig(agent, config("a"), { commandId: "c1", requestedBy: "me", now: 2 });
    const built = buildServerToAgent(agent, { requestFullState: false });
    expect(built.message.remoteConfig?.configHash).toEqual(agent.spec!.remoteConfig!.data!.hash);
    expect(built.deliveredCommandIds).toEqual(["c1"]);
    expect(built.message.capabilities).not.toBe(0n);
    report(agent, msg({ sequenceNum: 1n, remoteConfigStatus: { lastRemoteConfigHash: agent.spec!.remoteConfig!.data!.hash, status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED } }), conn, { now: 3, known: true });
    expect(buildServerToAgent(agent, { requestFullState: false }).message.remoteConfig).toBeUndefined();
  });

  it("sends a restart alone, and the full-state flag when asked", () => {
    const agent = newAgent(uid, 0);
    report(agent, msg({ agentDescription: {} }), conn, { now: 1, known: false });
    applyRemoteConfig(agent, config("a"), { commandId: "c1", requestedBy: "me", now: 2 });
    queueCommand(agent, CommandKind.RESTART, { commandId: "r1", requestedBy: "me", now: 3 });
    const restart = buildServerToAgent(agent, { requestFullState: false });
    expect(restart.message.command?.type).toBe(CommandType.CommandType_Restart);
    expect(restart.message.remoteConfig).toBeUndefined();
    expect(restart.deliveredCommandIds).toEqual(["r1"]);
    markDelivered(agent, restart.deliveredCommandIds, 4);
    const next = buildServerToAgent(agent, { requestFullState: true });
    expect(next.message.command).toBeUndefined();
    expect(next.message.remoteConfig).toBeDefined();
    expect(next.message.flags & BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).not.toBe(0n);
  });
});

describe("available components", () => {
  const withComponents = BigInt(AgentCapabilities.AgentCapabilities_ReportsAvailableComponents);
  const components = (hash: number, full: boolean) => ({
    $typeName: "opamp.proto.v1.AvailableComponents" as const,
    hash: new Uint8Array([hash]),
    components: full ? { receivers: { $typeName: "opamp.proto.v1.ComponentDetails" as const, metadata: [], subComponentMap: {} } } : {},
  });
  const asks = (agent: ReturnType<typeof newAgent>) =>
    (buildServerToAgent(agent, { requestFullState: false }).message.flags & BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportAvailableComponents)) !== 0n;

  it("are asked for in full only while the server has no map for the reported hash, and the map is kept across hash-only reports", () => {
    const agent = newAgent(uid, 0);
    report(agent, msg({ capabilities: withComponents, availableComponents: components(1, false) }), conn, { now: 1, known: false });
    expect(asks(agent)).toBe(true);
    report(agent, msg({ sequenceNum: 1n, capabilities: withComponents, availableComponents: components(1, true) }), conn, { now: 2, known: true });
    expect(asks(agent)).toBe(false);
    report(agent, msg({ sequenceNum: 2n, capabilities: withComponents, availableComponents: components(1, false) }), conn, { now: 3, known: true });
    expect(Object.keys(agent.status!.availableComponents!.components)).toEqual(["receivers"]);
    expect(asks(agent)).toBe(false);
    report(agent, msg({ sequenceNum: 3n, capabilities: withComponents, availableComponents: components(2, false) }), conn, { now: 4, known: true });
    expect(asks(agent)).toBe(true); // a new hash: the map changed
  });
});
