/**
 * Fleetplane's chaos suite: figures, printed; exit code 1 only when a run
 * found a crash, an unhandled error, a 5xx, or a lost acknowledged config.
 *
 *   pnpm chaos [fuzz|kill|soak|abuse] [options]     (pnpm chaos --help)
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ABUSE_SCENARIOS, runAbuse, type AbuseScenario } from "./abuse.js";
import { formatFigures } from "./figures.js";
import { runFuzz } from "./fuzz.js";
import { runKillLoop } from "./kill-loop.js";
import { ServerProcess, standaloneCommand } from "./server-process.js";
import { runSoak } from "./soak.js";

const HELP = `Usage: pnpm chaos [fuzz|kill|soak|abuse] [options]

Each scenario starts its own Fleetplane standalone process (port 0, a fresh data directory)
and prints figures. Default: fuzz.

  fuzz    seeded structured fuzzer over WebSocket and HTTP (fast-check); fails on a crash,
          an unhandled rejection / uncaught exception / fatal log line, or a 5xx, and prints
          the shrunk counterexample with the seed and path that replay it
  kill    kill -9 loop: 500 simulated agents, remote configs set through the admin API during
          each kill; counts acknowledged configs lost, audit records stuck, UID reassignments
  soak    N agents for M minutes; server RSS every 10 s, memory slope (MiB/min), reply p99
  abuse   issue 15's abuse cases: huge-description, new-uids, silent-websockets (all by default,
          or name them after "abuse"), each with a valid agent beside it

Options:
  --seed N       fuzz and kill (default: 1; fuzz picks a random one with --seed random)
  --inputs N     fuzz: about this many inputs (default 100000; the long run is 1000000)
  --rounds N     kill: rounds (default 20)
  --agents N     kill (default 500), soak (default 2000; one process holds up to ~18000)
  --minutes N    soak (default 10; the long run is 30 at 10000 agents)
  --help, -h
`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seed: { type: "string", default: "1" },
    inputs: { type: "string", default: "100000" },
    rounds: { type: "string", default: "20" },
    agents: { type: "string" },
    minutes: { type: "string", default: "10" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const progress = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
const seed = values.seed === "random" ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const [scenario = "fuzz", ...rest] = positionals;
let failed = false;

if (scenario === "fuzz") {
  progress(`fuzz: seed ${seed}`);
  const report = await runFuzz({ seed, inputs: Number(values.inputs), startServer: () => ServerProcess.start(standaloneCommand(mkdtempSync(join(tmpdir(), "fleetplane-chaos-fuzz-")))), progress });
  console.log(formatFigures("chaos fuzz", report));
  failed = report.failure !== undefined;
} else if (scenario === "kill") {
  const report = await runKillLoop({ seed, rounds: Number(values.rounds), agents: Number(values.agents ?? 500), progress });
  console.log(formatFigures("chaos kill", report));
  failed = report.acknowledgedLost > 0;
} else if (scenario === "soak") {
  const report = await runSoak({ agents: Number(values.agents ?? 2_000), minutes: Number(values.minutes), progress });
  console.log(formatFigures("chaos soak", report));
  failed = report.serverDied !== undefined;
} else if (scenario === "abuse") {
  const unknown = rest.filter((s) => !(ABUSE_SCENARIOS as readonly string[]).includes(s));
  if (unknown.length > 0) {
    process.stderr.write(`unknown abuse case(s): ${unknown.join(", ")}; known: ${ABUSE_SCENARIOS.join(", ")}\n`);
    process.exit(2);
  }
  for (const which of (rest.length > 0 ? rest : ABUSE_SCENARIOS) as AbuseScenario[]) {
    progress(`abuse: ${which}`);
    const report = await runAbuse(which);
    console.log(formatFigures(`chaos abuse: ${which}`, report));
    failed ||= report.serverDied !== undefined;
  }
} else {
  process.stderr.write(`unknown scenario "${scenario}"\n${HELP}`);
  process.exit(2);
}
process.exit(failed ? 1 : 0);
