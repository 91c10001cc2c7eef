import { ServerErrorResponseType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { SERVER_CAPABILITIES, errorReply, serverToAgent } from "@fleetplane/opamp";
import { describe, expect, it } from "vitest";
import { httpReplyStatus } from "./http-reply-status.js";

const uid = new Uint8Array(16).fill(3);
const error = (type: ServerErrorResponseType, retryAfterMs?: number) => errorReply(uid, SERVER_CAPABILITIES, type, "why", retryAfterMs);

describe("httpReplyStatus", () => {
  it("is 200 for a reply and for BAD_REQUEST and UNKNOWN error_responses, which the agent must be able to read", () => {
    expect(httpReplyStatus(serverToAgent(uid, SERVER_CAPABILITIES))).toEqual({ status: 200, headers: {} });
    expect(httpReplyStatus(error(ServerErrorResponseType.ServerErrorResponseType_BadRequest))).toEqual({ status: 200, headers: {} });
    expect(httpReplyStatus(error(ServerErrorResponseType.ServerErrorResponseType_Unknown))).toEqual({ status: 200, headers: {} });
  });

  it("is 503 for UNAVAILABLE, with Retry-After in whole seconds when RetryInfo is set", () => {
    expect(httpReplyStatus(error(ServerErrorResponseType.ServerErrorResponseType_Unavailable, 2_500))).toEqual({ status: 503, headers: { "retry-after": "3" } });
    expect(httpReplyStatus(error(ServerErrorResponseType.ServerErrorResponseType_Unavailable))).toEqual({ status: 503, headers: {} });
  });
});
