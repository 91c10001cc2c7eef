import { describe, expect, it } from "vitest";
import { uuidv7Bytes } from "./uuidv7.js";
import { instanceUidToHex, parseInstanceUid } from "./instance-uid.js";

describe("uuidv7Bytes", () => {
  it("sets version 7 and the RFC variant, and starts with the timestamp", () => {
    const uid = uuidv7Bytes(0x0123456789ab);
    expect(uid.length).toBe(16);
    expect(uid[6]! >> 4).toBe(7);
    expect(uid[8]! >> 6).toBe(0b10);
    expect(instanceUidToHex(uid).slice(0, 12)).toBe("0123456789ab");
  });

  it("sorts by creation time", () => {
    const a = instanceUidToHex(uuidv7Bytes(1000));
    const b = instanceUidToHex(uuidv7Bytes(2000));
    expect(a < b).toBe(true);
  });
});

describe("parseInstanceUid", () => {
  it("accepts hex and UUID forms and rejects anything that is not 16 bytes", () => {
    const hex = "0193a5b2c3d47e8f9a0b1c2d3e4f5a6b";
    expect(instanceUidToHex(parseInstanceUid(hex))).toBe(hex);
    expect(instanceUidToHex(parseInstanceUid("0193a5b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b"))).toBe(hex);
    expect(() => parseInstanceUid("0193a5b2c3d47e8f9a0b1c2d3e4f5a")).toThrow(/invalid instance UID/);
    expect(() => parseInstanceUid("zz93a5b2c3d47e8f9a0b1c2d3e4f5a6b")).toThrow(/32 hex digits/);
  });
});
