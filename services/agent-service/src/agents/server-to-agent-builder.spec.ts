import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CommandKind, ConnectionSchema, ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import {
  AgentCapabilities,
  AgentConfigMapSchema,
  AgentToServerSchema,
  CommandType,
  RemoteConfigStatuses,
  ServerErrorResponseType,
  ServerToAgentFlags,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { SERVER_CAPABILITIES, serverCapabilities } from "@fleetplane/opamp";
import { applyRemoteConfig, newAgent, queueCertificateRefusal, queueCommand, report } from "./agent-model.js";
import { heartbeatOffer } from "./heartbeat-offer.js";
import { buildServerToAgent } from "./server-to-agent-builder.js";

const uid = new Uint8Array(16).fill(7);
const conn = create(ConnectionSchema, { id: "gw/ws/1", type: ConnectionType.WEBSOCKET, gatewayId: "gw", endpoint: "ws://opamp.local:4320/v1/opamp" });
const cap = (...c: AgentCapabilities[]) => BigInt(c.reduce((a, b) => a | b, 0));
const ALL = cap(
  AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig,
  AgentCapabilities.AgentCapabilities_AcceptsRestartCommand,
  AgentCapabilities.AgentCapabilities_ReportsRemoteConfig,
  AgentCapabilities.AgentCapabilities_ReportsHeartbeat,
  AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings,
);
const opts = (commandId: string) => ({ commandId, requestedBy: "admin", now: 2 });
const config = (text: string) => create(AgentConfigMapSchema, { configMap: { "": { body: new TextEncoder().encode(text), contentType: "text/yaml" } } });

function agentWith(capabilities: bigint) {
  const agent = newAgent(uid, 0);
  report(agent, create(AgentToServerSchema, { instanceUid: uid, capabilities }), conn, { now: 1, known: false });
  return agent;
}

describe("the reply builder", () => {
  it("sends a pending restart alone: no config, no flags, no settings ride with it", () => {
    const agent = agentWith(ALL);
    applyRemoteConfig(agent, config("a: 1"), opts("c1"));
    queueCommand(agent, CommandKind.REPORT_FULL_STATE, opts("f1"));
    queueCommand(agent, CommandKind.RESTART, opts("r1"));
    const built = buildServerToAgent(agent, { requestFullState: true, heartbeat: heartbeatOffer(agent, 30n) });
    expect(built.message.command?.type).toBe(CommandType.CommandType_Restart);
    expect(built.message.remoteConfig).toBeUndefined();
    expect(built.message.connectionSettings).toBeUndefined();
    expect(built.message.flags).toBe(0n);
    expect(built.deliveredCommandIds).toEqual(["r1"]);
  });

  it("answers a refused certificate request alone, with BAD_REQUEST and the reason", () => {
    const agent = agentWith(ALL);
    applyRemoteConfig(agent, config("a: 1"), opts("c1"));
    queueCertificateRefusal(agent, "the CSR names another agent", opts("x1"));
    const built = buildServerToAgent(agent, { requestFullState: false, heartbeat: heartbeatOffer(agent, 30n) });
    expect(built.message.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(built.message.errorResponse?.errorMessage).toBe("the CSR names another agent");
    expect(built.message.remoteConfig).toBeUndefined();
    expect(built.message.connectionSettings).toBeUndefined();
    expect(built.message.command).toBeUndefined();
    expect(built.deliveredCommandIds).toEqual(["x1"]);
  });

  it("never resends a config the agent reports having, yet settles its command", () => {
    const agent = agentWith(ALL);
    const { command } = applyRemoteConfig(agent, config("a: 1"), opts("c1"));
    report(
      agent,
      create(AgentToServerSchema, {
        instanceUid: uid,
        sequenceNum: 1n,
        capabilities: ALL,
        remoteConfigStatus: { lastRemoteConfigHash: command.configHash, status: RemoteConfigStatuses.RemoteConfigStatuses_APPLYING },
      }),
      conn,
      { now: 3, known: true },
    );
    const built = buildServerToAgent(agent, { requestFullState: false });
    expect(built.message.remoteConfig).toBeUndefined();
    expect(built.deliveredCommandIds).toEqual(["c1"]);
  });

  it("puts the server's capabilities and the agent's UID on every message: plain, with content, restart, refusal", () => {
    const announced = serverCapabilities({ signsCertificates: true });
    const plain = agentWith(ALL);
    const withConfig = agentWith(ALL);
    applyRemoteConfig(withConfig, config("a: 1"), opts("c1"));
    const restarting = agentWith(ALL);
    queueCommand(restarting, CommandKind.RESTART, opts("r1"));
    const refused = agentWith(ALL);
    queueCertificateRefusal(refused, "no", opts("x1"));
    for (const agent of [plain, withConfig, restarting, refused]) {
      const built = buildServerToAgent(agent, { requestFullState: false, capabilities: announced, heartbeat: heartbeatOffer(agent, 30n) });
      expect(built.message.capabilities).toBe(announced);
      expect(built.message.instanceUid).toEqual(uid);
      expect(buildServerToAgent(agent, { requestFullState: false }).message.capabilities).toBe(SERVER_CAPABILITIES);
    }
  });

  it("counts a message without anything to act on as empty, and a full-state request as content", () => {
    const agent = agentWith(cap(AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig));
    expect(buildServerToAgent(agent, { requestFullState: false }).hasContent).toBe(false);
    const asked = buildServerToAgent(agent, { requestFullState: true });
    expect(asked.hasContent).toBe(true);
    expect(asked.message.flags & BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState)).not.toBe(0n);
  });
});
