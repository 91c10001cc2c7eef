import { describe, expect, it } from "vitest";
import { instanceUidProblem } from "./instance-uid-rule.js";
import { OutboundMessageTooLargeError, checkOutboundSize } from "./message-limits.js";
import { retryAfterHeader, retryAfterHeaderFromNanoseconds, retryAfterNanoseconds } from "./retry-after.js";

describe("instanceUidProblem", () => {
  it("accepts exactly 16 bytes and names the length otherwise", () => {
    expect(instanceUidProblem(new Uint8Array(16))).toBeUndefined();
    expect(instanceUidProblem(new Uint8Array(15))).toBe("instance_uid must be 16 bytes, got 15");
    expect(instanceUidProblem(new Uint8Array(0))).toBe("instance_uid must be 16 bytes, got 0");
  });
});

describe("checkOutboundSize", () => {
  it("throws a typed error over the limit, nothing at it", () => {
    expect(() => checkOutboundSize(100, 100)).not.toThrow();
    try {
      checkOutboundSize(101, 100);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(OutboundMessageTooLargeError);
      expect((err as OutboundMessageTooLargeError).bytes).toBe(101);
      expect((err as OutboundMessageTooLargeError).limit).toBe(100);
    }
  });
});

describe("retry hints", () => {
  it("round up to whole seconds, never below 1, in the header", () => {
    expect(retryAfterHeader(30_000)).toBe("30");
    expect(retryAfterHeader(1_001)).toBe("2");
    expect(retryAfterHeader(0)).toBe("1");
    expect(retryAfterHeaderFromNanoseconds(retryAfterNanoseconds(2_500))).toBe("3");
  });
});
