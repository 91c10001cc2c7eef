import { describe, expect, it } from "vitest";
import { LogRateLimit } from "./log-rate-limit.js";

function clock() {
  let now = 1_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("LogRateLimit", () => {
  it("writes the first line of a key per window, counts the rest and hands the count to the next line written", () => {
    const c = clock();
    const limit = new LogRateLimit({ intervalMs: 10_000, now: c.now });
    expect(limit.admit("a")).toBe(0);
    expect(limit.admit("a")).toBeUndefined();
    expect(limit.admit("a")).toBeUndefined();
    expect(limit.admit("b")).toBe(0); // another key has its own window
    c.advance(9_999);
    expect(limit.admit("a")).toBeUndefined();
    c.advance(1);
    expect(limit.admit("a")).toBe(3);
    expect(limit.admit("a")).toBeUndefined();
  });

  it("writes a burst of lines per window before counting", () => {
    const c = clock();
    const limit = new LogRateLimit({ intervalMs: 1_000, burst: 3, now: c.now });
    const admitted = Array.from({ length: 10 }, () => limit.admit("k"));
    expect(admitted).toEqual([0, 0, 0, undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
    c.advance(1_000);
    expect(limit.admit("k")).toBe(7);
    expect(limit.admit("k")).toBe(0);
  });

  it("gives the counts of windows that are over through ended(), once, and forgets every window that is over", () => {
    const c = clock();
    const limit = new LogRateLimit({ intervalMs: 1_000, now: c.now });
    limit.admit("quiet");
    limit.admit("loud");
    limit.admit("loud");
    limit.admit("loud");
    expect(limit.ended()).toEqual([]); // nothing is over yet
    c.advance(500);
    limit.admit("later");
    c.advance(500);
    expect(limit.ended()).toEqual([{ key: "loud", suppressed: 2 }]);
    expect(limit.size).toBe(1);
    expect(limit.has("later")).toBe(true);
    expect(limit.has("loud")).toBe(false);
    expect(limit.ended()).toEqual([]);
    expect(limit.admit("loud")).toBe(0); // its count went out through ended()
  });

  it("take() gives the fields to add to a line written, and undefined for a line left out", () => {
    const c = clock();
    const limit = new LogRateLimit({ intervalMs: 1_000, now: c.now });
    expect(limit.take("k")).toEqual({});
    expect(limit.take("k")).toBeUndefined();
    expect(limit.take("k")).toBeUndefined();
    c.advance(1_000);
    expect(limit.take("k")).toEqual({ suppressed: 2 });
  });
});
