// The internal services (what gateways call on agent-service, what
// agent-service calls on command-service) in the distributed topology: not on
// the admin ports, not listed by their reflection, and on the internal
// listeners only with the service token.
import { readFileSync } from "node:fs";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import { AuditEntryOutcome, CommandRecorderService } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { ServerReflection } from "@fleetplane/gen/grpc/reflection/v1/reflection_pb";
import { bearer } from "./support/admin-key.js";
import { startDistributed, type Distributed } from "./support/distributed.js";

let d: Distributed;
beforeAll(async () => {
  d = await startDistributed();
}, 120_000);
afterAll(async () => {
  await d?.close();
}, 60_000);

const codeOf = (call: Promise<unknown>) => call.then(() => "ok" as const, (e: unknown) => ConnectError.from(e).code);

/** The services an admin port lists through gRPC reflection (asked with the admin key). */
async function listedServices(baseUrl: string): Promise<string[]> {
  const reflection = createClient(ServerReflection, createGrpcTransport({ baseUrl, interceptors: [bearer(d.adminKey)] }));
  async function* ask() {
    yield { messageRequest: { case: "listServices" as const, value: "" } };
  }
  for await (const res of reflection.serverReflectionInfo(ask())) {
    if (res.messageResponse.case === "listServicesResponse") return res.messageResponse.value.service.map((s) => s.name);
  }
  return [];
}

describe("internal services in the distributed topology", () => {
  it("are neither listed nor answered on the admin ports", async () => {
    const agentAdmin = await listedServices(d.agentService.url);
    expect(agentAdmin).toContain("fleetplane.agent.v1.AgentService");
    expect(agentAdmin).not.toContain("fleetplane.agent.v1.AgentGatewayService");
    const commandAdmin = await listedServices(d.commandService.url);
    expect(commandAdmin).toContain("fleetplane.command.v1.CommandService");
    expect(commandAdmin).not.toContain("fleetplane.command.v1.CommandRecorderService");
    const viaAdmin = createClient(AgentGatewayService, createConnectTransport({ baseUrl: d.agentService.url, httpVersion: "1.1", interceptors: [bearer(d.adminKey)] }));
    expect(await codeOf(viaAdmin.markDisconnected({ instanceUid: "0".repeat(32), connectionId: "x" }))).toBe(Code.Unimplemented);
    const recorderViaAdmin = createClient(CommandRecorderService, createConnectTransport({ baseUrl: d.commandService.url, httpVersion: "1.1", interceptors: [bearer(d.adminKey)] }));
    expect(await codeOf(recorderViaAdmin.recordCommand({}))).toBe(Code.Unimplemented);
    expect(await codeOf(recorderViaAdmin.writeAuditBatch({}))).toBe(Code.Unimplemented);
  });

  it("answer on the internal listeners only with the service token; an admin key is no token", async () => {
    const token = readFileSync(d.tokenFile, "utf8").trim();
    const gatewaySide = (key?: string) => createClient(AgentGatewayService, createConnectTransport({ baseUrl: d.agentInternalUrl, httpVersion: "2", interceptors: key ? [bearer(key)] : [] }));
    expect(await codeOf(gatewaySide().renewGatewayLease({ gatewayId: "intruder", ttlSeconds: 30 }))).toBe(Code.Unauthenticated);
    expect(await codeOf(gatewaySide(d.adminKey).renewGatewayLease({ gatewayId: "intruder", ttlSeconds: 30 }))).toBe(Code.Unauthenticated);
    expect(await codeOf(gatewaySide(token).releaseGatewayLease({ gatewayId: "nobody" }))).toBe("ok");
    const recorder = (key?: string) => createClient(CommandRecorderService, createConnectTransport({ baseUrl: d.commandInternalUrl, httpVersion: "2", interceptors: key ? [bearer(key)] : [] }));
    expect(await codeOf(recorder().updateCommandState({ id: "forged" }))).toBe(Code.Unauthenticated);
    // With the token the call reaches command-service (which does not know the command).
    expect(await codeOf(recorder(token).updateCommandState({ id: "0".repeat(32) }))).toBe(Code.NotFound);
    const forgedBatch = { entries: [{ entry: { case: "transition" as const, value: { id: "0".repeat(32), state: CommandState.APPLIED } } }] };
    expect(await codeOf(recorder().writeAuditBatch(forgedBatch))).toBe(Code.Unauthenticated);
    expect(await codeOf(recorder(d.adminKey).writeAuditBatch(forgedBatch))).toBe(Code.Unauthenticated);
    // With the token the batch is taken, and its one entry answered alone.
    const { results } = await recorder(token).writeAuditBatch(forgedBatch);
    expect(results.map((r) => r.outcome)).toEqual([AuditEntryOutcome.NOT_FOUND]);
  });
});
