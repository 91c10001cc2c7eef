import { describe, expect, it } from "vitest";
import { OpeningDeadlines } from "./opening-deadlines.js";

interface Item {
  name: string;
  spoke: boolean;
}

function deadlines(timeoutMs: number) {
  let now = 1_000;
  const missed: string[] = [];
  const d = new OpeningDeadlines<Item>(timeoutMs, (i) => i.spoke, (i) => missed.push(i.name), () => now);
  return { d, missed, advance: (ms: number) => (now += ms) };
}

describe("opening deadlines", () => {
  it("hands an item that has not met its deadline to missed once the deadline has passed, and only once", () => {
    const { d, missed, advance } = deadlines(100);
    const silent = { name: "silent", spoke: false };
    d.watch(silent);
    advance(99);
    d.sweep();
    expect(missed).toEqual([]);
    advance(1);
    d.sweep();
    expect(missed).toEqual(["silent"]);
    advance(1_000);
    d.sweep();
    expect(missed).toEqual(["silent"]);
    expect(d.size).toBe(0);
  });

  it("forgets an item that met its deadline at the next sweep, and one forgotten by hand at once, without a word", () => {
    const { d, missed, advance } = deadlines(100);
    const speaking = { name: "speaking", spoke: false };
    const admitted = { name: "admitted", spoke: false };
    d.watch(speaking);
    d.watch(admitted);
    d.forget(admitted);
    expect(d.size).toBe(1);
    speaking.spoke = true;
    d.sweep();
    expect(d.size).toBe(0);
    advance(1_000);
    d.sweep();
    expect(missed).toEqual([]);
  });

  it("times each item from when it was watched", () => {
    const { d, missed, advance } = deadlines(100);
    d.watch({ name: "first", spoke: false });
    advance(60);
    d.watch({ name: "second", spoke: false });
    advance(40);
    d.sweep();
    expect(missed).toEqual(["first"]);
    advance(60);
    d.sweep();
    expect(missed).toEqual(["first", "second"]);
  });
});
