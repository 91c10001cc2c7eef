import { describe, expect, it } from "vitest";
import { diffLines, splitLines, type LineEdit } from "./line-diff.js";

const apply = (from: string[], edits: LineEdit[]) => ({
  from: edits.filter((e) => e.change !== "added").map((e) => e.text),
  to: edits.filter((e) => e.change !== "removed").map((e) => e.text),
  changes: edits.filter((e) => e.change !== "kept").length,
  unchanged: from.length,
});

describe("line diff", () => {
  const cases: Array<{ name: string; from: string[]; to: string[]; changes: number }> = [
    { name: "identical", from: ["a", "b"], to: ["a", "b"], changes: 0 },
    { name: "both empty", from: [], to: [], changes: 0 },
    { name: "all added", from: [], to: ["a", "b"], changes: 2 },
    { name: "all removed", from: ["a", "b"], to: [], changes: 2 },
    { name: "one line changed in the middle", from: ["a", "b", "c"], to: ["a", "x", "c"], changes: 2 },
    { name: "insertion", from: ["a", "c"], to: ["a", "b", "c"], changes: 1 },
    { name: "classic Myers example", from: [..."ABCABBA"], to: [..."CBABAC"], changes: 5 },
  ];
  for (const c of cases) {
    it(`${c.name}: the script rebuilds both sides with the fewest changes`, () => {
      const edits = diffLines(c.from, c.to);
      const r = apply(c.from, edits);
      expect(r.from).toEqual(c.from);
      expect(r.to).toEqual(c.to);
      expect(r.changes).toBe(c.changes);
    });
  }

  it("puts removals before additions within a change", () => {
    expect(diffLines(["a", "b", "c"], ["a", "x", "c"])).toEqual([
      { change: "kept", text: "a" },
      { change: "removed", text: "b" },
      { change: "added", text: "x" },
      { change: "kept", text: "c" },
    ]);
  });

  it("stays minimal on a large file with one change", () => {
    const from = Array.from({ length: 5000 }, (_, i) => `line ${i}`);
    const to = [...from];
    to[2500] = "changed";
    const edits = diffLines(from, to);
    expect(edits.filter((e) => e.change !== "kept")).toEqual([
      { change: "removed", text: "line 2500" },
      { change: "added", text: "changed" },
    ]);
  });

  it("splits lines without an empty last line for a final newline", () => {
    expect(splitLines("a\nb\n")).toEqual(["a", "b"]);
    expect(splitLines("a\r\nb")).toEqual(["a", "b"]);
    expect(splitLines("")).toEqual([]);
  });
});
