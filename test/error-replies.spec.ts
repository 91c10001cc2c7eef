import { ServerCapabilities, ServerErrorResponseType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { uuidv7Bytes } from "@fleetplane/platform";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WsAgent, description, httpPoll } from "./support/simulated-agent.js";
import { eventually, startTestServer } from "./support/standalone-server.js";

/**
 * Error replies are made by the gateway, not agent-service, yet announce the
 * server's capabilities like every other reply (README: every reply has
 * them): the base set until a reply from agent-service went through, then
 * what agent-service announced — here including CSR signing, as the server
 * has a CA.
 */
let t: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  t = await startTestServer({ csrApproval: "manual" });
}, 120_000);
afterAll(async () => {
  await t?.close();
}, 60_000);

const SIGNS_CERTIFICATES = BigInt(ServerCapabilities.ServerCapabilities_AcceptsConnectionSettingsRequest);
const ACCEPTS_STATUS = BigInt(ServerCapabilities.ServerCapabilities_AcceptsStatus);
/** An instance UID one byte short: the gateway answers BadRequest itself. */
const shortUid = () => uuidv7Bytes().subarray(0, 15);

async function wsErrorReply() {
  const agent = await WsAgent.connect(t.wsUrl, shortUid());
  agent.send({ agentDescription: description("short-uid") as never });
  const reply = await eventually(() => agent.received[0], 10_000, "error reply over WebSocket");
  await agent.close();
  return reply;
}

async function httpErrorReply() {
  const poll = await httpPoll(t.httpUrl, { instanceUid: shortUid() });
  // 200: an error_response over HTTP is a ServerToAgent the agent must read (http-reply-status.ts).
  expect(poll.status).toBe(200);
  return poll.message!;
}

describe("an error reply", () => {
  // First in this file: no reply from agent-service has gone through the gateway yet.
  it("announces the server's base capabilities before any reply from agent-service, over WebSocket and HTTP", async () => {
    for (const reply of [await wsErrorReply(), await httpErrorReply()]) {
      expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
      expect(reply.errorResponse?.errorMessage).toBe("instance_uid must be 16 bytes, got 15");
      // The base set: what every Fleetplane server can do, without CSR signing.
      expect(reply.capabilities & ACCEPTS_STATUS).toBe(ACCEPTS_STATUS);
      expect(reply.capabilities & SIGNS_CERTIFICATES).toBe(0n);
    }
  });

  it("announces what agent-service announced in its latest reply, over WebSocket and HTTP", async () => {
    const agent = await WsAgent.connect(t.wsUrl);
    agent.send({ agentDescription: description("valid") as never });
    const valid = await eventually(() => agent.received[0], 10_000, "a reply from agent-service");
    await agent.close();
    expect(valid.errorResponse).toBeUndefined();
    expect(valid.capabilities & SIGNS_CERTIFICATES).toBe(SIGNS_CERTIFICATES);

    for (const reply of [await wsErrorReply(), await httpErrorReply()]) {
      expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
      expect(reply.capabilities).toBe(valid.capabilities);
    }
  });
});
