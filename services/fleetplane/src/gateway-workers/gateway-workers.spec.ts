import { describe, expect, it } from "vitest";
import { perWorker, withoutLoader, withWorkerHeap, workerEnv, WORKER_MALLOC_ARENAS, WORKER_SEMI_SPACE_MIB } from "./gateway-workers.js";

describe("each gateway worker's share of the limits", () => {
  it("divides the new-agent rates and the connecting agents (agent-service's protection), rounding up; 0 (no limit), max connections (each process's own) and the rest hold as set", () => {
    const s = perWorker({ maxConnections: 10_001, newAgentsPerSecond: 101, newAgentsPerSecondPerSource: 0, maxConnectingAgents: 1_000, retryAfterMs: 5_000 }, 6);
    expect(s).toEqual({ maxConnections: 10_001, newAgentsPerSecond: 17, newAgentsPerSecondPerSource: 0, maxConnectingAgents: 167, retryAfterMs: 5_000 });
  });

  it("never rounds a limit down to 0, which would mean no limit", () => {
    expect(perWorker({ newAgentsPerSecond: 1 }, 6).newAgentsPerSecond).toBe(1);
    expect(perWorker({ maxConnectingAgents: 2 }, 6).maxConnectingAgents).toBe(1);
  });
});

describe("the flags a bundled worker runs with", () => {
  it("drops tsx's loader in each form Node is given it, and keeps every other flag", () => {
    expect(withoutLoader(["--import", "tsx", "--max-old-space-size=512"])).toEqual(["--max-old-space-size=512"]);
    const cli = ["--require", "/w/node_modules/.pnpm/tsx@4.23.15/node_modules/tsx/dist/preflight.cjs", "--import", "file:///w/node_modules/.pnpm/tsx@4.23.15/node_modules/tsx/dist/loader.mjs"];
    expect(withoutLoader([...cli, "--cpu-prof"])).toEqual(["--cpu-prof"]);
    expect(withoutLoader(["--import=tsx", "--import", "./telemetry.mjs", "-r", "dotenv/config"])).toEqual(["--import", "./telemetry.mjs", "-r", "dotenv/config"]);
  });
});

describe("the heap a worker runs with", () => {
  it("has a small young generation unless the process was given one, which then stands", () => {
    expect(withWorkerHeap(["--cpu-prof"])).toEqual(["--cpu-prof", `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`]);
    expect(withWorkerHeap(["--max-semi-space-size=16"])).toEqual(["--max-semi-space-size=16"]);
    expect(withWorkerHeap(["--max_semi_space_size", "8"])).toEqual(["--max_semi_space_size", "8"]);
  });
});

describe("the environment a worker runs with", () => {
  it("limits glibc's malloc arenas unless the operator chose how many, which then stands", () => {
    expect(workerEnv({ PATH: "/bin" })).toEqual({ MALLOC_ARENA_MAX: String(WORKER_MALLOC_ARENAS) });
    expect(workerEnv({ MALLOC_ARENA_MAX: "8" })).toEqual({});
  });
});
