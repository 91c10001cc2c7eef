import { create, toBinary } from "@bufbuild/protobuf";
import { AgentToServerSchema, ConnectionSettingsRequestSchema, ServerErrorResponseType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { uuidv7Bytes } from "@fleetplane/platform";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCsr } from "./support/csr.js";
import { CAPS, description, httpPoll } from "./support/simulated-agent.js";
import { startTestServer } from "./support/standalone-server.js";

/**
 * Over plain HTTP an error_response comes with status 200: clients read the
 * body of a 200 only (opamp-go discards any other), and the specification
 * asks for a ServerToAgent with error_response, naming no status for it
 * (services/opamp-gateway/src/http-reply-status.ts). A body that is no
 * AgentToServer at all keeps its 400.
 */
let t: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  t = await startTestServer();
}, 120_000);
afterAll(async () => {
  await t?.close();
}, 60_000);

describe("a plain-HTTP error_response", () => {
  it("for a refused CSR comes with 200, so that an opamp-go agent reads it", async () => {
    const uid = uuidv7Bytes();
    const first = await httpPoll(t.httpUrl, { instanceUid: uid, agentDescription: description("http-csr") as never });
    expect(first.status).toBe(200);
    const { pem } = await makeCsr({ subject: "CN=OpAMP Example Client" });
    const poll = await httpPoll(t.httpUrl, {
      instanceUid: uid,
      capabilities: CAPS,
      connectionSettingsRequest: create(ConnectionSettingsRequestSchema, { opamp: { certificateRequest: { csr: new TextEncoder().encode(pem) } } }),
    });
    expect(poll.status).toBe(200);
    expect(poll.message?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(poll.message?.errorResponse?.errorMessage).toMatch(/no certificate authority configured/);
    expect(Buffer.from(poll.message!.instanceUid)).toEqual(Buffer.from(uid));
  });

  it("for an instance_uid of the wrong length comes with 200", async () => {
    const poll = await httpPoll(t.httpUrl, { instanceUid: uuidv7Bytes().subarray(0, 15) });
    expect(poll.status).toBe(200);
    expect(poll.message?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(poll.message?.errorResponse?.errorMessage).toBe("instance_uid must be 16 bytes, got 15");
  });

  it("is 400 only for a body that is no AgentToServer at all", async () => {
    const valid = toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: uuidv7Bytes(), capabilities: CAPS }));
    // Cut inside the 16 bytes of instance_uid.
    const truncated = await httpPoll(t.httpUrl, {}, { rawBody: valid.subarray(0, 10) });
    expect(truncated.status).toBe(400);
    expect(truncated.message?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
  });
});
