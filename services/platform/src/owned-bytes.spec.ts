import { describe, expect, it } from "vitest";
import { ownBytes } from "./owned-bytes.js";

describe("ownBytes", () => {
  it("moves every byte array inside a message that views a larger buffer into one buffer of their own, with the same bytes", () => {
    const frame = new Uint8Array(1024).map((_, i) => i % 251);
    const msg = {
      instanceUid: frame.subarray(0, 16),
      status: { effectiveConfig: { configMap: { configMap: { "": { body: frame.subarray(100, 200), contentType: "text/yaml" } } } } },
      packageStatuses: [{ hash: frame.subarray(300, 332) }],
      hashes: [frame.subarray(400, 408)],
      oneof: { case: "bytesValue", value: frame.subarray(500, 504) },
    };
    ownBytes(msg);
    const views = [msg.instanceUid, msg.status.effectiveConfig.configMap.configMap[""].body, msg.packageStatuses[0]!.hash, msg.hashes[0]!, msg.oneof.value];
    // All in one new buffer of exactly their size.
    const owned = views[0]!.buffer;
    expect(owned).not.toBe(frame.buffer);
    expect(owned.byteLength).toBe(16 + 100 + 32 + 8 + 4);
    for (const v of views) expect(v.buffer).toBe(owned);
    expect([...msg.instanceUid]).toEqual([...frame.subarray(0, 16)]);
    expect([...msg.status.effectiveConfig.configMap.configMap[""].body]).toEqual([...frame.subarray(100, 200)]);
    expect([...msg.oneof.value]).toEqual([...frame.subarray(500, 504)]);
  });

  it("leaves alone a byte array that already owns its buffer, and what is not a plain object", () => {
    const whole = new Uint8Array([1, 2, 3]);
    const date = new Date(0);
    const msg = { whole, date, n: 5n, s: "x", nothing: undefined, empty: null };
    expect(ownBytes(msg)).toBe(msg);
    expect(msg.whole).toBe(whole);
    expect(msg.date).toBe(date);
  });

  it("leaves a frozen object and all it holds alone: it cannot be rewritten, and what is frozen is shared and owns its bytes", () => {
    const frame = new Uint8Array(64).map((_, i) => i);
    const shared = Object.freeze({ key: "k", value: Object.freeze({ value: Object.freeze({ case: "bytesValue", value: frame.subarray(0, 4) }) }) });
    const msg = { attributes: [shared], instanceUid: frame.subarray(16, 32) };
    // Walked into, the frozen holder's field could not be replaced: a TypeError in strict code.
    expect(ownBytes(msg)).toBe(msg);
    expect(msg.attributes[0]).toBe(shared);
    expect(shared.value.value.value.buffer).toBe(frame.buffer);
    // What is not frozen beside it still gets its own buffer, sized for it alone.
    expect(msg.instanceUid.buffer).not.toBe(frame.buffer);
    expect(msg.instanceUid.buffer.byteLength).toBe(16);
  });
});
