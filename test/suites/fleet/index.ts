import type { TestTopology } from "../../support/topology.js";
import { startOnce } from "../opamp/started-topology.js";
import { assignmentBehaviour } from "./assignment.js";
import { configurationsBehaviour } from "./configurations.js";
import { groupChangesBehaviour } from "./group-changes.js";
import { groupOffersBehaviour } from "./group-offers.js";
import { namespacesBehaviour } from "./namespaces.js";

/**
 * Fleet configuration (namespaces, labels, versioned configurations, groups
 * by selector with their offers, automatic assignment) as every topology must show it: the
 * standalone process and the distributed one (two agent-service replicas,
 * two gateways, NATS, FerretDB) run it unchanged.
 */
export function fleetE2eSuite(start: () => Promise<TestTopology>): void {
  const topology = startOnce(start);
  configurationsBehaviour(topology);
  assignmentBehaviour(topology);
  groupChangesBehaviour(topology);
  groupOffersBehaviour(topology);
  namespacesBehaviour(topology);
}
