import { describe, expect, it } from "vitest";
import { AgentConfigMapSchema, RemoteConfigStatuses, AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { ConnectionSchema, ConnectionType, CommandKind } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { create } from "@bufbuild/protobuf";
import { applyRemoteConfig, markDelivered, newAgent, queueCommand, report } from "./agent-model.js";
import { auditCorrections } from "./audit-reconciliation.js";

const uid = new Uint8Array(16).fill(7);
const conn = create(ConnectionSchema, { id: "c", type: ConnectionType.WEBSOCKET, gatewayId: "gw" });
const config = (text: string) => create(AgentConfigMapSchema, { configMap: { "": { body: new TextEncoder().encode(text) } } });
const options = (commandId: string) => ({ commandId, requestedBy: "me", now: 1 });

describe("auditCorrections: records that missed a transition, settled from the stored agent", () => {
  it("marks delivered a command the agent holds as delivered, and leaves a still queued one pending", () => {
    const agent = newAgent(uid, 0);
    queueCommand(agent, CommandKind.REPORT_FULL_STATE, options("sent"));
    queueCommand(agent, CommandKind.RESTART, options("queued"));
    markDelivered(agent, ["sent"], 2);
    expect(auditCorrections(agent, [{ id: "sent", state: "pending" }, { id: "queued", state: "pending" }])).toEqual([{ commandId: "sent", to: "delivered", detail: "" }]);
  });

  it("settles the config the agent reported applied or failed, and supersedes an older delivered one", () => {
    const agent = newAgent(uid, 0);
    applyRemoteConfig(agent, config("a"), options("old"));
    markDelivered(agent, ["old"], 2);
    const { command } = applyRemoteConfig(agent, config("b"), options("new"));
    markDelivered(agent, ["new"], 3);
    const status = { lastRemoteConfigHash: command.configHash, status: RemoteConfigStatuses.RemoteConfigStatuses_FAILED, errorMessage: "bad" };
    report(agent, create(AgentToServerSchema, { instanceUid: uid, remoteConfigStatus: status }), conn, { now: 4, known: true });
    expect(auditCorrections(agent, [{ id: "old", state: "delivered" }, { id: "new", state: "pending" }])).toEqual([
      { commandId: "old", to: "superseded", detail: expect.any(String) },
      { commandId: "new", to: "failed", detail: "bad" },
    ]);
  });

  it("supersedes a record whose command is no longer on the agent (replaced before its transition was written)", () => {
    const agent = newAgent(uid, 0);
    applyRemoteConfig(agent, config("a"), options("gone"));
    applyRemoteConfig(agent, config("b"), options("current"));
    expect(auditCorrections(agent, [{ id: "gone", state: "pending" }, { id: "current", state: "pending" }])).toEqual([
      { commandId: "gone", to: "superseded", detail: expect.any(String) },
    ]);
  });
});
