import { afterAll, beforeAll } from "vitest";
import type { TestTopology } from "../../support/topology.js";

/** The topology a suite runs against; read it inside a test, once the suite's beforeAll has started it. */
export type Topology = () => TestTopology;

/**
 * Starts one topology for the tests registered beside this call (in the same
 * describe block) and stops it after them. Starting is slow (the distributed
 * topology spawns processes), so every behaviour shares one.
 */
export function startOnce(start: () => Promise<TestTopology>): Topology {
  let started: TestTopology | undefined;
  beforeAll(async () => {
    started = await start();
  }, 180_000);
  afterAll(async () => {
    await started?.close();
  }, 60_000);
  return () => {
    if (!started) throw new Error("the topology was read before the suite's beforeAll started it");
    return started;
  };
}
