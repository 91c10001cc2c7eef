import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import { ServerErrorResponseType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { createInProcessPushBus } from "@fleetplane/platform-node";
import { silentLogger, uuidv7Bytes } from "@fleetplane/platform";
import { startGateway, type Gateway } from "@fleetplane/opamp-gateway";
import { createServer } from "node:net";
import { WsAgent, description, httpPoll } from "./support/simulated-agent.js";
import { eventually } from "./support/standalone-server.js";

/** A loopback port nothing listens on: agent-service is "down". */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let gateway: Gateway;
beforeAll(async () => {
  const transport = createConnectTransport({ baseUrl: `http://127.0.0.1:${await deadPort()}`, httpVersion: "2" });
  gateway = await startGateway({
    gatewayId: "gw-down",
    host: "127.0.0.1",
    port: 0,
    retryAfterMs: 2_000,
    agentService: createClient(AgentGatewayService, transport),
    bus: createInProcessPushBus(),
    logger: silentLogger(),
  });
});
afterAll(async () => {
  // Cleanups cannot reach the dead agent-service; close() gives up after its bounded wait.
  await gateway?.close();
}, 30_000);

describe("when agent-service is down", () => {
  it("WebSocket agents get error_response UNAVAILABLE with RetryInfo, HTTP agents 503 with Retry-After", async () => {
    const agent = await WsAgent.connect(`ws://127.0.0.1:${gateway.port}/v1/opamp`);
    agent.send({ agentDescription: description() as never });
    const reply = await eventually(() => agent.received[0], 10_000, "reply");
    expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
    expect(reply.errorResponse?.Details.case).toBe("retryInfo");
    expect(reply.errorResponse?.Details.value?.retryAfterNanoseconds).toBe(2_000_000_000n);
    await agent.close();

    const poll = await httpPoll(`http://127.0.0.1:${gateway.port}/v1/opamp`, { instanceUid: uuidv7Bytes() });
    expect(poll.status).toBe(503);
    expect(poll.headers.get("retry-after")).toBe("2");
    expect(poll.message?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
  });
});
