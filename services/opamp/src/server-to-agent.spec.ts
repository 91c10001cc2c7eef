import { describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ServerCapabilities, ServerErrorResponseType, ServerToAgentFlags, ServerToAgentSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { SERVER_CAPABILITIES, errorReply, isAcknowledgement, newInstanceUidReply, reportFullStateRequest, serverCapabilities, serverToAgent } from "./server-to-agent.js";

const uid = new Uint8Array(16).fill(7);

describe("serverToAgent", () => {
  it("names the agent and announces the capabilities, whatever the body says", () => {
    const m = serverToAgent(uid, SERVER_CAPABILITIES, { flags: 1n });
    const back = fromBinary(ServerToAgentSchema, toBinary(ServerToAgentSchema, m));
    expect(back.instanceUid).toEqual(uid);
    expect(back.capabilities).toBe(SERVER_CAPABILITIES);
    expect(back.flags).toBe(1n);
  });

  it("makes the same message on its shortcut for identity, capabilities and flags as create() does", () => {
    for (const body of [{}, { flags: 0n }, { flags: 3n }, { flags: 1n, customMessage: undefined }]) {
      const quick = serverToAgent(uid, SERVER_CAPABILITIES, body);
      const full = create(ServerToAgentSchema, { ...body, instanceUid: uid, capabilities: SERVER_CAPABILITIES });
      expect(quick).toEqual(full);
      expect(toBinary(ServerToAgentSchema, quick)).toEqual(toBinary(ServerToAgentSchema, full));
    }
  });

  it("announces CSR signing only when the server signs certificates", () => {
    const bit = BigInt(ServerCapabilities.ServerCapabilities_AcceptsConnectionSettingsRequest);
    expect(serverCapabilities({ signsCertificates: false }) & bit).toBe(0n);
    expect(serverCapabilities({ signsCertificates: true }) & bit).toBe(bit);
  });
});

describe("errorReply", () => {
  it("carries capabilities and, for a retry hint, RetryInfo in nanoseconds", () => {
    const m = errorReply(uid, SERVER_CAPABILITIES, ServerErrorResponseType.ServerErrorResponseType_Unavailable, "later", 1500);
    expect(m.capabilities).toBe(SERVER_CAPABILITIES);
    expect(m.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
    expect(m.errorResponse?.Details.case).toBe("retryInfo");
    expect(m.errorResponse?.Details.value?.retryAfterNanoseconds).toBe(1_500_000_000n);
  });

  it("has no RetryInfo without a hint", () => {
    const m = errorReply(uid, SERVER_CAPABILITIES, ServerErrorResponseType.ServerErrorResponseType_BadRequest, "bad");
    expect(m.errorResponse?.Details.case).toBeUndefined();
  });
});

describe("identity and full-state requests", () => {
  it("a new instance UID comes with a request to report the full state", () => {
    const fresh = new Uint8Array(16).fill(9);
    const m = newInstanceUidReply(uid, SERVER_CAPABILITIES, fresh);
    expect(m.agentIdentification?.newInstanceUid).toEqual(fresh);
    expect(m.flags).toBe(BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState));
    expect(m.capabilities).toBe(SERVER_CAPABILITIES);
  });

  it("a full-state request carries the flag and the capabilities", () => {
    const m = reportFullStateRequest(uid, 5n);
    expect(m.flags).toBe(BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState));
    expect(m.capabilities).toBe(5n);
  });
});

describe("isAcknowledgement", () => {
  it("holds for a message of identity and capabilities only", () => {
    expect(isAcknowledgement(serverToAgent(uid, SERVER_CAPABILITIES))).toBe(true);
    expect(isAcknowledgement(serverToAgent(uid, SERVER_CAPABILITIES, { flags: 0n }))).toBe(true);
  });

  it("fails for every other field of ServerToAgent set (a field added to the proto must be added there)", () => {
    const others = ServerToAgentSchema.fields.filter((f) => f.localName !== "instanceUid" && f.localName !== "capabilities");
    expect(others.length).toBeGreaterThan(8);
    for (const field of others) {
      const m = serverToAgent(uid, SERVER_CAPABILITIES) as unknown as Record<string, unknown>;
      if (field.fieldKind === "message") m[field.localName] = create(field.message);
      else if (field.fieldKind === "scalar") m[field.localName] = 1n;
      else throw new Error(`no test value for ${field.name} (${field.fieldKind})`);
      expect(isAcknowledgement(m as never), field.name).toBe(false);
    }
  });
});
