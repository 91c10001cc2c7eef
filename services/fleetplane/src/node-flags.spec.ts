import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { AGENT_SERVICE_SEMI_SPACE_MB, nodeFlagsFor } from "../bin/node-flags.mjs";

/** The new space V8 has grown to (MiB) in a node started with `flags` after a burst of short-lived garbage. */
function newSpaceAfterGarbage(flags: string[]): number {
  const script = `
    const keep = [];
    for (let r = 0; r < 150; r++) { const a = []; for (let i = 0; i < 100000; i++) a.push({ i, s: "x" + i }); keep.push(a.length); }
    const ns = require("node:v8").getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    process.stdout.write(String(ns.space_size / 2 ** 20));`;
  return Number(execFileSync(process.execPath, [...flags, "-e", script], { env: { ...process.env, NODE_OPTIONS: "" }, encoding: "utf8" }));
}

describe("the node flags of a fleetplane command", () => {
  it("give agent-service a larger young generation, and no other command one", () => {
    expect(nodeFlagsFor("agent-service", [], undefined)).toEqual([`--max-semi-space-size=${AGENT_SERVICE_SEMI_SPACE_MB}`]);
    for (const command of ["standalone", "gateway", "command-service", "rollout", undefined]) expect(nodeFlagsFor(command, [], undefined)).toEqual([]);
  });

  it("leave the young generation to an operator who sized it (node's arguments or NODE_OPTIONS)", () => {
    expect(nodeFlagsFor("agent-service", ["--max-semi-space-size=8"], undefined)).toEqual([]);
    expect(nodeFlagsFor("agent-service", [], "--inspect --max_semi_space_size=64")).toEqual([]);
    expect(nodeFlagsFor("agent-service", ["--max-old-space-size=512"], "--trace-gc")).toHaveLength(1);
  });

  it("take effect: V8's new space grows past Node's default (two 16 MiB semi-spaces) under garbage", () => {
    const flags = nodeFlagsFor("agent-service", [], undefined);
    expect(newSpaceAfterGarbage([])).toBeLessThanOrEqual(32);
    expect(newSpaceAfterGarbage(flags)).toBeGreaterThan(32);
  });
});
