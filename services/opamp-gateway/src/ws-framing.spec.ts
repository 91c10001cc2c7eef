import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AgentToServerSchema, ServerToAgentSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { SERVER_CAPABILITIES, serverToAgent } from "@fleetplane/opamp";
import { describe, expect, it } from "vitest";
import * as ws from "ws";
import { MalformedFrameError, decodeAgentFrame, encodeServerFrame, encodeServerWebSocketFrame } from "./ws-framing.js";

const uid = new Uint8Array(16).fill(3);
const body = toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 7n }));
const frame = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

function malformed(bytes: Uint8Array): MalformedFrameError {
  try {
    decodeAgentFrame(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedFrameError);
    return err as MalformedFrameError;
  }
  throw new Error("the frame decoded");
}

describe("WebSocket framing", () => {
  it("reads an agent's message after the 0 header", () => {
    const message = decodeAgentFrame(frame(Uint8Array.of(0), body));
    expect(message.instanceUid).toEqual(uid);
    expect(message.sequenceNum).toBe(7n);
  });

  it("reads a needlessly long 0 header too (a varint with continuation bits)", () => {
    expect(decodeAgentFrame(frame(Uint8Array.of(0x80, 0x80, 0x00), body)).sequenceNum).toBe(7n);
  });

  it("reads a message without a header, as early clients sent it", () => {
    expect(body[0]).toBeGreaterThanOrEqual(0x08);
    expect(decodeAgentFrame(body).instanceUid).toEqual(uid);
  });

  it("refuses a header other than 0, one longer than a varint, and a body that does not decode", () => {
    expect(malformed(frame(Uint8Array.of(0x81, 0x00), body)).message).toMatch(/header 1\b/);
    expect(malformed(new Uint8Array(11).fill(0x80)).message).toMatch(/truncated/);
    expect(malformed(Uint8Array.of(0x80)).message).toMatch(/truncated/);
    const broken = malformed(Uint8Array.of(0, 0x0a, 0x20, 1));
    expect(broken.cause).toBeDefined();
  });

  it("writes a ServerToAgent as the 0 header followed by the protobuf", () => {
    const message = serverToAgent(uid, SERVER_CAPABILITIES, { flags: 1n });
    const out = encodeServerFrame(message);
    expect(out[0]).toBe(0);
    const back = fromBinary(ServerToAgentSchema, new Uint8Array(out).subarray(1));
    expect(back.instanceUid).toEqual(uid);
    expect(back.capabilities).toBe(SERVER_CAPABILITIES);
    expect(back.flags).toBe(1n);
  });

  it("writes a whole RFC 6455 frame that ws's own client parser reads back, at every length encoding", () => {
    // ws's Receiver (not in its type definitions) is the parser its clients use.
    const Receiver = (ws as unknown as { Receiver: new (o: { isServer: boolean }) => NodeJS.WritableStream & { on(e: "message", f: (data: Buffer, isBinary: boolean) => void): void } }).Receiver;
    // Payloads of 125, 126, 65535 and 65536 bytes sit on the edges of the 7-, 16- and 64-bit lengths.
    for (const payload of [0, 1, 110, 124, 125, 126, 127, 65_534, 65_535, 65_536, 200_000]) {
      const text = "x".repeat(Math.max(0, payload - 22));
      const message = serverToAgent(uid, SERVER_CAPABILITIES, text ? { customMessage: { capability: "c", type: "t", data: new TextEncoder().encode(text) } } : {});
      const { bytes, payloadLength } = encodeServerWebSocketFrame(message);
      expect(payloadLength).toBe(encodeServerFrame(message).length);
      const receiver = new Receiver({ isServer: false });
      const got: Array<{ data: Buffer; isBinary: boolean }> = [];
      receiver.on("message", (data, isBinary) => got.push({ data, isBinary }));
      receiver.write(bytes);
      expect(got, `payload ${payloadLength}`).toHaveLength(1);
      expect(got[0]!.isBinary).toBe(true);
      expect(new Uint8Array(got[0]!.data)).toEqual(new Uint8Array(encodeServerFrame(message)));
    }
  });
});

