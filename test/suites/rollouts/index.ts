import type { TestTopology } from "../../support/topology.js";
import { startOnce } from "../opamp/started-topology.js";
import { badInputBehaviour } from "./bad-input.js";
import { gateFailuresBehaviour } from "./gate-failures.js";
import { preflightBehaviour } from "./preflight.js";
import { stagesBehaviour } from "./stages.js";

/**
 * Staged rollouts as every topology must show them: the standalone process
 * and the distributed one (two agent-service replicas, two gateways, NATS,
 * FerretDB) run it unchanged. `size`: simulated agents in the big runs.
 */
export function rolloutsE2eSuite(start: () => Promise<TestTopology>, o: { size: number }): void {
  const topology = startOnce(start);
  stagesBehaviour(topology, o.size);
  gateFailuresBehaviour(topology, o.size);
  preflightBehaviour(topology);
  badInputBehaviour(topology);
}
