import { describe, expect, it } from "vitest";
import { marginalCost, marginSummary, stormSizes, StormSizeError } from "../bench/storm-margin.js";

// The arithmetic of the bench's marginal CPU per new agent (bench/storm-margin.ts); no servers.
describe("bench: marginal CPU per new agent", () => {
  it("takes the fixed part out: ΔCPU / Δagents, the average of the larger storm, and what is left at N = 0", () => {
    // 1.4 s of warm-up and 600 µs per agent: 3.2 s at 3,000, 5.0 s at 6,000.
    const m = marginalCost({ agents: 3000, cpuS: 3.2 }, { agents: 6000, cpuS: 5.0 })!;
    expect(m.marginalUs).toBeCloseTo(600, 6);
    expect(m.averageUs).toBeCloseTo(833.33, 1);
    expect(m.fixedS).toBeCloseTo(1.4, 6);
    expect(m).toMatchObject({ n1: 3000, n2: 6000 });
  });

  it("orders the two storms by size, and has no figure for equal sizes", () => {
    expect(marginalCost({ agents: 6000, cpuS: 5.0 }, { agents: 3000, cpuS: 3.2 })!.marginalUs).toBeCloseTo(600, 6);
    expect(marginalCost({ agents: 3000, cpuS: 3.2 }, { agents: 3000, cpuS: 3.4 })).toBeUndefined();
    expect(marginalCost({ agents: 3000, cpuS: NaN }, { agents: 6000, cpuS: 5 })).toBeUndefined();
  });

  it("compares servers by the mean of their marginal figures", () => {
    const rows = [
      { peer: "fleetplane", "marginal µs per new agent": 600, "average µs per new agent (N2)": 830, "fixed s": 1.4, "load avg": 1 },
      { peer: "fleetplane", "marginal µs per new agent": 400, "average µs per new agent (N2)": 700, "fixed s": 1.2, "load avg": 2 },
      { peer: "go", "marginal µs per new agent": 125, "average µs per new agent (N2)": 130, "fixed s": 0.03, "load avg": 1 },
      { peer: "go", "marginal µs per new agent": 125, "average µs per new agent (N2)": 130, "fixed s": 0.03, "load avg": 2 },
    ];
    const [fp, go] = marginSummary(["fleetplane", "go"], rows);
    expect(fp).toMatchObject({ "marginal µs per new agent (mean)": 500, "(range)": "400–600", "marginal × go": 4, rounds: 2 });
    expect(go).toMatchObject({ "marginal × fleetplane": 0.25 });
  });

  it("runs two different sizes unless one is asked for, and names the flag it refuses", () => {
    expect(stormSizes(undefined, "3000,6000")).toEqual([3000, 6000]);
    expect(stormSizes("4000", "3000,6000")).toEqual([4000]);
    expect(() => stormSizes(undefined, "3000")).toThrow(StormSizeError);
    expect(() => stormSizes(undefined, "3000,3000")).toThrow(/--storm-sizes/);
    expect(() => stormSizes("many", "3000,6000")).toThrow(/--storm-agents/);
  });
});
