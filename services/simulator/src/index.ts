// @fleetplane/simulator: simulated OpAMP agents — a fleet to drive from tests
// and benchmarks, its latency histogram, and the `fleetplane sim` command.
export { Fleet, type FleetOptions, type FleetSnapshot } from "./fleet.js";
export { LatencyHistogram } from "./latency.js";
export { runSimCli } from "./sim-cli.js";
export { ProcessFleet, type ProcessFleetOptions, type ProcessFleetStats } from "./process-fleet.js";
