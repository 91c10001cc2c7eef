import { describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AgentDescriptionSchema, AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { decodeHeartbeat } from "./heartbeat-decoding.js";

const uid = new Uint8Array(16).map((_, i) => i + 1);
const encode = (init: Parameters<typeof create<typeof AgentToServerSchema>>[1]) => toBinary(AgentToServerSchema, create(AgentToServerSchema, init));

describe("decodeHeartbeat", () => {
  it("decodes a bare heartbeat as fromBinary does, at every varint length up to 63 bits", () => {
    for (const n of [0n, 1n, 127n, 128n, 16_383n, 16_384n, 2n ** 28n - 1n, 2n ** 28n, 2n ** 35n + 5n, 2n ** 56n, 2n ** 63n - 1n]) {
      const bytes = encode({ instanceUid: uid, sequenceNum: n, capabilities: n ^ 0x2001n });
      expect(decodeHeartbeat(bytes), String(n)).toEqual(fromBinary(AgentToServerSchema, bytes));
    }
    for (const bytes of [new Uint8Array(0), encode({ sequenceNum: 3n }), encode({ instanceUid: uid }), new Uint8Array([...encode({ sequenceNum: 1n }), ...encode({ sequenceNum: 2n })])]) {
      expect(decodeHeartbeat(bytes)).toEqual(fromBinary(AgentToServerSchema, bytes));
    }
  });

  it("makes the message create() makes: the same own fields in the same order, prototype and zero values", () => {
    for (const bytes of [encode({ instanceUid: uid, sequenceNum: 5n, capabilities: 0x2001n }), encode({ sequenceNum: 1n }), new Uint8Array(0)]) {
      const quick = decodeHeartbeat(bytes)!;
      const made = fromBinary(AgentToServerSchema, bytes);
      expect(quick).toStrictEqual(made);
      expect(Object.keys(quick)).toEqual(Object.keys(made));
      expect(Object.getPrototypeOf(quick)).toBe(Object.getPrototypeOf(made));
    }
    const zero = create(AgentToServerSchema);
    expect(decodeHeartbeat(new Uint8Array(0))!.instanceUid).toBe(zero.instanceUid);
  });

  it("leaves anything else to fromBinary: other fields, varints over 63 bits, a truncated field", () => {
    expect(decodeHeartbeat(encode({ instanceUid: uid, sequenceNum: 1n, agentDescription: create(AgentDescriptionSchema) }))).toBeUndefined();
    expect(decodeHeartbeat(encode({ instanceUid: uid, flags: 1n }))).toBeUndefined();
    expect(decodeHeartbeat(encode({ sequenceNum: 2n ** 64n - 1n }))).toBeUndefined();
    const whole = encode({ instanceUid: uid, sequenceNum: 300n });
    for (let cut = 1; cut < whole.length; cut++) {
      const part = whole.subarray(0, cut);
      const quick = decodeHeartbeat(part);
      if (quick) expect(quick).toEqual(fromBinary(AgentToServerSchema, part));
    }
  });

  it("never disagrees with fromBinary on random bytes", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed / 2 ** 31);
    const tags = [0x0a, 0x10, 0x20, 0x1a, 0x50, 0x80, 0x00, 0xff];
    for (let i = 0; i < 20_000; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 24) }, () => (random() < 0.3 ? tags[Math.floor(random() * tags.length)]! : Math.floor(random() * 256)));
      const quick = decodeHeartbeat(bytes);
      if (quick === undefined) continue;
      expect(quick, Buffer.from(bytes).toString("hex")).toEqual(fromBinary(AgentToServerSchema, bytes));
    }
  });

  it("reads a body that starts at an offset (after a frame's header) as the body alone, and keeps no view of its bytes", () => {
    const body = encode({ instanceUid: uid, sequenceNum: 300n, capabilities: 0x2001n });
    const frame = new Uint8Array([0, ...body]);
    const quick = decodeHeartbeat(frame, 1)!;
    expect(quick).toEqual(fromBinary(AgentToServerSchema, body));
    expect(decodeHeartbeat(frame, 1)).toEqual(decodeHeartbeat(body));
    // The UID is the message's own: the frame's bytes may be reused.
    frame.fill(0xff);
    expect(quick.instanceUid).toEqual(uid);
    expect(quick.instanceUid.buffer).not.toBe(frame.buffer);
  });
});
