import { describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { isHeartbeat } from "./heartbeat-message.js";

const heartbeat = () => create(AgentToServerSchema, { instanceUid: new Uint8Array(16).fill(3), sequenceNum: 7n, capabilities: 0x2001n });

describe("isHeartbeat", () => {
  it("holds for instance UID, sequence number and capabilities only, decoded from the wire too", () => {
    expect(isHeartbeat(heartbeat())).toBe(true);
    expect(isHeartbeat(fromBinary(AgentToServerSchema, toBinary(AgentToServerSchema, heartbeat())))).toBe(true);
  });

  it("fails for every other field of AgentToServer set (a field added to the proto must be added there)", () => {
    const others = AgentToServerSchema.fields.filter((f) => !["instanceUid", "sequenceNum", "capabilities"].includes(f.localName));
    expect(others.length).toBeGreaterThan(10);
    for (const field of others) {
      const m = heartbeat() as unknown as Record<string, unknown>;
      if (field.fieldKind === "message") m[field.localName] = create(field.message);
      else if (field.fieldKind === "scalar" && field.localName === "flags") m[field.localName] = 1n;
      else throw new Error(`field ${field.localName} of a kind this spec does not set: add it`);
      expect(isHeartbeat(m as never), field.localName).toBe(false);
    }
  });
});
