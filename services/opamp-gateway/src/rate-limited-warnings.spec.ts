import { describe, expect, it } from "vitest";
import { RateLimitedWarnings, sourceAddress, type WarningKind } from "./rate-limited-warnings.js";

/** A log whose lines are kept. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = { warn: (fields: Record<string, unknown>, msg: string) => void lines.push({ ...fields, msg }) };
  return { logger, lines };
}

function setup() {
  const { logger, lines } = capturingLogger();
  const counted: WarningKind[] = [];
  let now = 1_000;
  const warnings = new RateLimitedWarnings(logger, { count: (k) => void counted.push(k) }, 60_000, () => now);
  return { warnings, lines, counted, advance: (ms: number) => (now += ms) };
}

describe("RateLimitedWarnings", () => {
  it("writes one line per kind and source per interval, and counts every warning", () => {
    const { warnings, lines, counted } = setup();
    for (let i = 0; i < 100; i++) warnings.warn("unreadable-message", "10.0.0.1", { i }, "could not read agent message");
    warnings.warn("unreadable-message", "10.0.0.2", {}, "could not read agent message");
    warnings.warn("bad-instance-uid", "10.0.0.1", {}, "bad uid");
    expect(lines.map((l) => [l.kind, l.source, l.i])).toEqual([
      ["unreadable-message", "10.0.0.1", 0],
      ["unreadable-message", "10.0.0.2", undefined],
      ["bad-instance-uid", "10.0.0.1", undefined],
    ]);
    expect(counted).toHaveLength(102);
  });

  it("writes how many were suppressed with the next line of the key, or on flush once the window is over", () => {
    const { warnings, lines, advance } = setup();
    for (let i = 0; i < 5; i++) warnings.warn("message-too-large", "a", {}, "too large");
    advance(60_000);
    warnings.warn("message-too-large", "a", {}, "too large");
    expect(lines[1]).toMatchObject({ kind: "message-too-large", source: "a", suppressed: 4 });

    for (let i = 0; i < 3; i++) warnings.warn("connection-limit", "b", {}, "limit");
    warnings.flush();
    expect(lines).toHaveLength(3);
    advance(60_000);
    warnings.flush();
    expect(lines[3]).toMatchObject({ kind: "connection-limit", source: "b", suppressed: 2 });
    expect(warnings.size).toBe(0);
  });

  it("keeps its memory bounded under a spray of source addresses", () => {
    const { warnings, lines } = setup();
    for (let i = 0; i < 12_000; i++) warnings.warn("unreadable-message", `10.${i >> 8}.${i & 255}.1`, {}, "x");
    expect(warnings.size).toBeLessThanOrEqual(10_001);
    expect(lines.length).toBeLessThanOrEqual(10_001);
  });
});

describe("sourceAddress", () => {
  it("drops the port of IPv4 and IPv6 addresses", () => {
    expect(sourceAddress("127.0.0.1:5000")).toBe("127.0.0.1");
    expect(sourceAddress("::ffff:10.0.0.1:443")).toBe("::ffff:10.0.0.1");
    expect(sourceAddress("?")).toBe("?");
  });
});
