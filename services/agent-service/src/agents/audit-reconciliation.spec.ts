import { describe, expect, it } from "vitest";
import { AgentConfigMapSchema, RemoteConfigStatuses, AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { ConnectionSchema, ConnectionType, CommandKind } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { applyRemoteConfig, markDelivered, newAgent, queueCommand, report } from "./agent-model.js";
import { auditCorrections } from "./audit-reconciliation.js";
import type { RecordedCommand } from "./command-audit-port.js";
import { newCommandId } from "./command-id.js";

const uid = new Uint8Array(16).fill(7);
const uidHex = "07".repeat(16);
const conn = create(ConnectionSchema, { id: "c", type: ConnectionType.WEBSOCKET, gatewayId: "gw" });
const config = (text: string) => create(AgentConfigMapSchema, { configMap: { "": { body: new TextEncoder().encode(text) } } });
const options = (commandId: string) => ({ commandId, requestedBy: "me", now: 1 });
/** All the agent's records: none was cut off. */
const all = (records: RecordedCommand[]) => ({ records, complete: true });

describe("auditCorrections: records that missed a transition, settled from the stored agent", () => {
  it("marks delivered a command the agent holds as delivered, and leaves a still queued one pending", () => {
    const agent = newAgent(uid, 0);
    queueCommand(agent, CommandKind.REPORT_FULL_STATE, options("sent"));
    queueCommand(agent, CommandKind.RESTART, options("queued"));
    markDelivered(agent, ["sent"], 2);
    expect(auditCorrections(agent, all([{ id: "sent", state: "pending" }, { id: "queued", state: "pending" }]))).toEqual({
      records: [],
      transitions: [{ commandId: "sent", to: "delivered", detail: "" }],
    });
  });

  it("settles the config the agent reported applied or failed, and supersedes an older delivered one", () => {
    const agent = newAgent(uid, 0);
    applyRemoteConfig(agent, config("a"), options("old"));
    markDelivered(agent, ["old"], 2);
    const { command } = applyRemoteConfig(agent, config("b"), options("new"));
    markDelivered(agent, ["new"], 3);
    const status = { lastRemoteConfigHash: command.configHash, status: RemoteConfigStatuses.RemoteConfigStatuses_FAILED, errorMessage: "bad" };
    report(agent, create(AgentToServerSchema, { instanceUid: uid, remoteConfigStatus: status }), conn, { now: 4, known: true });
    expect(auditCorrections(agent, all([{ id: "old", state: "delivered" }, { id: "new", state: "pending" }])).transitions).toEqual([
      { commandId: "old", to: "superseded", detail: expect.any(String) },
      { commandId: "new", to: "failed", detail: "bad" },
    ]);
  });

  it("supersedes a record whose command is no longer on the agent (replaced before its transition was written)", () => {
    const agent = newAgent(uid, 0);
    applyRemoteConfig(agent, config("a"), options("gone"));
    applyRemoteConfig(agent, config("b"), options("current"));
    expect(auditCorrections(agent, all([{ id: "gone", state: "pending" }, { id: "current", state: "pending" }]))).toEqual({
      records: [],
      transitions: [{ commandId: "gone", to: "superseded", detail: expect.any(String) }],
    });
  });
});

describe("auditCorrections: commands the audit trail has no record of", () => {
  it("records a command the agent holds without a record, as auditedCommand does but with the command's own time, then moves it as the agent's state says", () => {
    const agent = newAgent(uid, 0);
    agent.metadata!.namespace = "prod";
    queueCommand(agent, CommandKind.RESTART, options("restart"));
    queueCommand(agent, CommandKind.REPORT_FULL_STATE, options("full-state"));
    markDelivered(agent, ["restart"], 2);
    const { records, transitions } = auditCorrections(agent, all([]));
    expect(records).toEqual([
      { id: "restart", instanceUid: uidHex, kind: "restart", configHash: "", requestedBy: "me", namespace: "prod", createdAt: timestampFromMs(1) },
      { id: "full-state", instanceUid: uidHex, kind: "report_full_state", configHash: "", requestedBy: "me", namespace: "prod", createdAt: timestampFromMs(1) },
    ]);
    // The queued one stays PENDING, as recorded.
    expect(transitions).toEqual([{ commandId: "restart", to: "delivered", detail: "" }]);
  });

  it("records a config the agent already applied, with its hash, and settles it applied", () => {
    const agent = newAgent(uid, 0);
    const { command } = applyRemoteConfig(agent, config("a"), options("config"));
    markDelivered(agent, ["config"], 2);
    const status = { lastRemoteConfigHash: command.configHash, status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED };
    report(agent, create(AgentToServerSchema, { instanceUid: uid, remoteConfigStatus: status }), conn, { now: 3, known: true });
    const { records, transitions } = auditCorrections(agent, all([]));
    expect(records).toEqual([{ id: "config", instanceUid: uidHex, kind: "remote_config", configHash: Buffer.from(command.configHash).toString("hex"), requestedBy: "me", namespace: "default", createdAt: timestampFromMs(1) }]);
    expect(transitions).toEqual([{ commandId: "config", to: "applied", detail: "" }]);
  });

  it("leaves alone the commands that have a record, settled or not, and moves no settled record", () => {
    const agent = newAgent(uid, 0);
    queueCommand(agent, CommandKind.RESTART, options("settled"));
    queueCommand(agent, CommandKind.REPORT_FULL_STATE, options("delivered"));
    markDelivered(agent, ["settled", "delivered"], 2);
    expect(auditCorrections(agent, all([{ id: "settled", state: "settled" }, { id: "delivered", state: "delivered" }]))).toEqual({ records: [], transitions: [] });
  });

  it("when the list was cut, records only the commands newer than its oldest record: an older one may be recorded beyond the cut", () => {
    const agent = newAgent(uid, 0);
    const [beyond, oldestListed, listed, missing] = [1_000, 2_000, 3_000, 4_000].map((t) => newCommandId(t)) as [string, string, string, string];
    for (const id of [beyond, oldestListed, listed, missing]) queueCommand(agent, CommandKind.RESTART, options(id));
    const cut = { records: [{ id: listed, state: "pending" as const }, { id: oldestListed, state: "pending" as const }], complete: false };
    expect(auditCorrections(agent, cut).records.map((r) => r.id)).toEqual([missing]);
    // The same list, complete: the oldest command has no record either.
    expect(auditCorrections(agent, { ...cut, complete: true }).records.map((r) => r.id)).toEqual([beyond, missing]);
  });
});
