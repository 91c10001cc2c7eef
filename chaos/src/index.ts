// @fleetplane/chaos: our own chaos suite (issue 15) — a seeded structured
// fuzzer, a kill -9 loop, a soak and the abuse cases, each against a server
// in another process, each printing figures. `pnpm chaos --help`.
export { adminClients, type AdminClients } from "./admin-clients.js";
export { formatFigures } from "./figures.js";
export { runFuzz, type FuzzOptions, type FuzzReport } from "./fuzz.js";
export { ProbeAgent } from "./probe-agent.js";
export { ServerProcess, standaloneCommand, type ServerCommand } from "./server-process.js";
export { runKillLoop, type KillLoopOptions, type KillLoopReport } from "./kill-loop.js";
export { runSoak, type SoakOptions, type SoakReport } from "./soak.js";
export { ABUSE_SCENARIOS, runAbuse, type AbuseOptions, type AbuseReport, type AbuseScenario } from "./abuse.js";
