/**
 * Fleetplane benchmarks: figures, never pass/fail.
 *
 *   pnpm bench [scenario...] [options]     (pnpm bench --help)
 *
 * Scenarios: storm, idle, steady, fanout (default: all four), peers, groups, groups-change, rollout. Each prints a
 * table and writes JSON under bench/results/.
 */
import { parseArgs } from "node:util";
import { idleHold, pushFanout, simulator, steadyState } from "./scenarios.js";
import { startDistributedServer, startStandaloneServer, type ServerUnderTest } from "./fleetplane-server.js";
import { printTable, round, saveResult, type Row } from "./report.js";
import { marginSummary, stormSizes, StormSizeError, stormsAtSizes } from "./storm-margin.js";
import { ExternalMongoUrlError, parseStoreUrl } from "../test/support/external-mongo.js";
import { DEFAULT_SETTLED_PERCENT } from "./fleet-settled.js";

const HELP = `Usage: pnpm bench [storm|idle|steady|fanout|peers|ab|workers|idle100k|groups|groups-change|rollout ...] [options]

Scenarios (default: storm idle steady fanout):
  storm    N agents connect at once and send a full first report: time until all are answered, at
           two sizes (--storm-sizes), a fresh server each: the MARGINAL server CPU per new agent,
           (C(N2) − C(N1)) / (N2 − N1), next to the average C(N2) / N2 and the fixed part
           F = C(N1) − m·N1 (C: the server's CPU, all its processes, from just before the simulator
           starts until all are answered; N: agents answered). The average bills a fresh process's
           fixed warm-up (for Node: its JIT compiling the hot paths, its heap growing from start-up
           size, ~1–1.4 s here whatever the storm's size) to every agent; the margin does not. Two
           fresh servers, not one server with two storms back to back: a deploy's storm meets a
           fresh process, both fresh processes pay the same warm-up (Node's JIT, Go's runtime and
           heap growth alike) so it cancels in the difference, whereas a second storm on one process
           would run on code compiled and a heap grown by the first, beside or just after closing
           the first storm's agents. The price is noise (a difference of two readings): keep the
           sizes 2× apart and run several rounds. --storm-agents N: one size only (a profile)
  idle     gateway RSS per idle WebSocket agent at growing fleet sizes
  steady   status reports per second (closed loop) with reply latency, standalone and distributed
  fanout   a new remote config for each of K agents: admin call to receipt, and to APPLIED recorded
  peers    storm, steady and idle (at --peers-idle-agents) against several OpAMP servers, --rounds
           times, interleaved, a fresh server per run; per-core figures and load averages. The storm
           as in "storm" (two sizes, a fresh server each): each server's marginal and average CPU
           per new agent, the fixed part, and the marginal's ratio to every other server's
           (--peers-scenarios storm,steady,idle: which of the three)
  ab       storm and steady alternated over --ab-rounds rounds between the build at --ab-base
           (a checkout, e.g. a git worktree of the branch point), this build and the Go peer:
           server CPU per new agent and per report, each build against the Go peer
           (--steady-seconds 0: the storm only)
  workers  the scaling curve of --workers: storm and steady with the gateway in the process (0), on 1
           and on 2 worker processes (--workers-levels)
  idle100k 100,000 idle WebSocket agents (--idle100k-agents) on standalone with --idle100k-workers
           gateway workers and as many simulator processes, each from its own 127.0.0.x: server RSS
           (all processes), and the load of their heartbeats (every 30 s) over --idle100k-seconds
  groups   new-agent cost (server CPU per agent in a connect storm) with 1 and with --groups-count
           groups in the namespace; a group's version change reaching --groups-agents connected
           agents: time until all APPLIED, and server CPU
  rollout  --rollout-agents agents in one group, a rollout to a new version in --rollout-stages with
           --rollout-bake-seconds of bake: time per stage, time to all APPLIED, server CPU (total and
           per moved agent; with --mongo-url, the CPU of the store's own processes on this machine,
           postgres and ferretdb*, too); with --rollout-fail-percent P > 0, P % of the agents (spread over the
           stages) report FAILED: the stage the gate stopped at against the first holding a failing agent
  groups-change  only the version change of "groups" (to compare builds run after run)

Options:
  --storm-sizes N1,N2     storm and peers: the two storm sizes (default 3000,6000; this machine allows
                          20,000 open files per process, the simulator spreads over --sim-processes)
  --storm-agents N        storm and peers: one size instead (no marginal figure); ab, workers: the
                          storm's size (default 5000)
  --idle-levels A,B,...   (default 5000,10000,18000; this machine allows 20000 open files per process)
  --idle-settled S        idle: RSS per agent read again S s after each level is in (default 20; 0: only at 3 s)
  --steady-agents N       (default 1000)
  --steady-seconds S      (default 15)
  --fanout-k A,B,...      (default 1,1000,10000)
  --modes M,...           standalone,distributed for steady (default both)
  --peers-idle-agents N   (default 10000)
  --peers-scenarios S,... peers: which of storm, steady, idle (default all three)
  --peers A,B,...         built-in peers: fleetplane, opamp-go-server (ours, tools/go), opamp-example
                          (opamp-go's example server), commander (OpAMP Commander); default all four.
                          The last two are built from their repositories (README "Performance").
  --peer NAME=SPEC        another server (repeatable): SPEC is a ws:// endpoint of a running server
                          (its process is found by its port), or an endpoint and a command to start it,
                          e.g. --peer 'mine=ws://127.0.0.1:{port}/v1/opamp ./server --listen 127.0.0.1:{port}'
                          ({port}: a free port)
  --rounds N              rounds of peers, and of storm at two sizes (default 2)
  --workers-levels A,B,.. (default 0,1,2)
  --idle100k-agents N     (default 100000)
  --idle100k-workers N    (default 6: 20,000 open files per process here)
  --idle100k-ramp N       new agents per second, all simulator processes together (default 1500)
  --idle100k-seconds S    heartbeat window (default 60)
  --idle100k-answered P   the window's fleet: it opens once P % of the agents have answered (default
                          99.9, rounded up to whole agents; 100: only after the last one, which at
                          100,000 can be a refused agent waiting out its retry hint). The result
                          names the rule and how many were in at the window's start and end
  --idle100k-settle S     seconds from that moment to the window (default 10; 40 leaves
                          every agent's first heartbeat, which agent-service answers, before it)
  --idle100k-max-connecting N  the server's --max-connecting-agents (default 1000, its default; 0: no
                          limit; the other scenarios run with 0)
  --idle100k-heap         each server process's anonymous RSS and V8 heap (used/committed, old and
                          young generation) at the window's start and end, from diagnostic reports
  --idle100k-checkout DIR run another build of the project as the server (a worktree of main), with
                          this bench: an A/B whose two sides read the same figures
  --sim-processes N       simulator processes for storm, steady, idle, peers (default: the cores)
  --groups-count N        (default 1000)
  --ab-base DIR           the other checkout for ab (required for ab)
  --ab-rounds N           (default 3)
  --ab-paired             ab: run A and B at the same time in each round (each with its own simulator),
                          so both meet the same load from other work on the machine; the Go peer alone
  --groups-storm-agents N (default 3000)
  --groups-agents N       (default 10000; this machine allows 20000 open files per process)
  --rollout-agents N      (default 1000)
  --rollout-stages S      canary count and cumulative shares (default 10,10%,50%,100%)
  --rollout-bake-seconds S (default 0)
  --rollout-fail-percent P,... one run each (default 0,1)
  --rollout-modes M,...   standalone,distributed (default standalone)
  --rollout-ramp N        new agents connected per second (default: all within max(1, agents/2000) s)
  --mongo-url URL         distributed modes (steady, rollout) use this running MongoDB-wire store
                          (mongodb://host:port/, no database; e.g. FerretDB 2.x on PostgreSQL with
                          DocumentDB) on a fresh database dropped after each run, instead of starting
                          FerretDB 1.x; store-side CPU is then not in the server figures
`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    "storm-agents": { type: "string" },
    "storm-sizes": { type: "string", default: "3000,6000" },
    "idle-levels": { type: "string", default: "5000,10000,18000" },
    "idle-settled": { type: "string", default: "20" },
    "steady-agents": { type: "string", default: "1000" },
    "steady-seconds": { type: "string", default: "15" },
    "fanout-k": { type: "string", default: "1,1000,10000" },
    modes: { type: "string", default: "standalone,distributed" },
    "peers-idle-agents": { type: "string", default: "10000" },
    "peers-scenarios": { type: "string", default: "storm,steady,idle" },
    peers: { type: "string", default: "fleetplane,opamp-go-server,opamp-example,commander" },
    peer: { type: "string", multiple: true, default: [] },
    rounds: { type: "string", default: "2" },
    "sim-processes": { type: "string" },
    "workers-levels": { type: "string", default: "0,1,2" },
    "idle100k-agents": { type: "string", default: "100000" },
    "idle100k-workers": { type: "string", default: "6" },
    "idle100k-ramp": { type: "string", default: "1500" },
    "idle100k-seconds": { type: "string", default: "60" },
    "idle100k-settle": { type: "string", default: "10" },
    "idle100k-answered": { type: "string", default: String(DEFAULT_SETTLED_PERCENT) },
    "idle100k-max-connecting": { type: "string", default: "1000" },
    "idle100k-heap": { type: "boolean", default: false },
    "idle100k-checkout": { type: "string" },
    "groups-count": { type: "string", default: "1000" },
    "ab-base": { type: "string", default: "" },
    "ab-rounds": { type: "string", default: "3" },
    "ab-paired": { type: "boolean", default: false },
    "groups-storm-agents": { type: "string", default: "3000" },
    "groups-agents": { type: "string", default: "10000" },
    "rollout-agents": { type: "string", default: "1000" },
    "rollout-stages": { type: "string", default: "10,10%,50%,100%" },
    "rollout-bake-seconds": { type: "string", default: "0" },
    "rollout-fail-percent": { type: "string", default: "0,1" },
    "rollout-modes": { type: "string", default: "standalone" },
    "rollout-ramp": { type: "string" },
    "mongo-url": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (values["sim-processes"] !== undefined) {
  const n = Number(values["sim-processes"]);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--sim-processes must be a whole number of at least 1, got ${values["sim-processes"]}\n`);
    process.exit(2);
  }
  simulator.processes = n;
}
const mongoUrl = values["mongo-url"];
if (mongoUrl !== undefined) {
  try {
    parseStoreUrl(mongoUrl, "--mongo-url");
  } catch (err) {
    if (!(err instanceof ExternalMongoUrlError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}
const startDistributedMode = () => startDistributedServer(mongoUrl ? { mongoUrl } : {});
const numbers = (s: string) => s.split(",").map((x) => Number(x.trim())).filter((n) => n > 0);
const scenarios = positionals.length > 0 ? positionals : ["storm", "idle", "steady", "fanout"];
let sizes: number[];
try {
  sizes = stormSizes(values["storm-agents"], values["storm-sizes"]!);
} catch (err) {
  if (!(err instanceof StormSizeError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}
/** ab and workers run one storm size. */
const oneStormSize = Number(values["storm-agents"] ?? "5000");
const peerScenarios = values["peers-scenarios"]!.split(",").map((x) => x.trim()).filter(Boolean);
const unknownPeerScenario = peerScenarios.find((x) => !["storm", "steady", "idle"].includes(x));
if (unknownPeerScenario !== undefined) {
  process.stderr.write(`--peers-scenarios: unknown scenario "${unknownPeerScenario}" (storm, steady, idle)\n`);
  process.exit(2);
}

async function withServer<T>(start: () => Promise<ServerUnderTest>, body: (s: ServerUnderTest) => Promise<T>): Promise<T> {
  const server = await start();
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

function report(scenario: string, title: string, rows: Row[]): void {
  printTable(title, rows);
  process.stdout.write(`  → ${saveResult(scenario, rows)}\n`);
}

for (const scenario of scenarios) {
  process.stderr.write(`\n== ${scenario} ==\n`);
  switch (scenario) {
    case "storm": {
      const storms: Row[] = [];
      const margins: Row[] = [];
      for (let r = 1; r <= (sizes.length === 2 ? Number(values.rounds) : 1); r++) {
        const done = await stormsAtSizes(() => startStandaloneServer(), sizes, r, { round: r, peer: "fleetplane" });
        storms.push(...done.storms);
        if (done.margin) margins.push(done.margin);
      }
      report("connect-storm", "Connect storm (WebSocket, full first report), a fresh server each", storms);
      if (margins.length > 0) {
        report("connect-storm-margin", "Connect storm at two sizes: marginal CPU per new agent = ΔCPU / Δagents", margins);
        report("connect-storm-margin-summary", "Marginal CPU per new agent, means over the rounds", marginSummary(["fleetplane"], margins));
      }
      break;
    }
    case "idle": {
      // The gateway's connection cap (--max-connections, 15,000 by default, under this machine's 20,000 open
      // files) would refuse the default top level of 18,000 agents with 503: the bench measures memory per
      // agent, not the cap, so it is lifted as the new-agent rates are (fleetplane-server.ts).
      const rows = await withServer(() => startStandaloneServer({ args: ["--max-connections", "0"] }), (s) => idleHold(s, numbers(values["idle-levels"]!), Number(values["idle-settled"])));
      report("idle-hold", "Idle hold (WebSocket agents on one gateway process)", rows);
      break;
    }
    case "steady": {
      const rows: Row[] = [];
      for (const mode of values.modes!.split(",")) {
        const start = mode === "distributed" ? startDistributedMode : startStandaloneServer;
        rows.push(await withServer(start, (s) => steadyState(s, Number(values["steady-agents"]), Number(values["steady-seconds"]))));
      }
      report("steady-state", "Steady state (closed loop WebSocket status reports)", rows);
      break;
    }
    case "fanout": {
      const rows: Row[] = [];
      for (const k of numbers(values["fanout-k"]!)) rows.push(await withServer(startStandaloneServer, (s) => pushFanout(s, k)));
      report("push-fanout", "Push fan-out (one SetRemoteConfig per agent, 64 in flight)", rows);
      break;
    }
    case "peers": {
      const { runPeers } = await import("./peers-scenario.js");
      const { BUILT_IN_PEERS, peerFromSpec } = await import("./peer-servers.js");
      const peers = values.peers!.split(",").filter(Boolean).map((name) => {
        const start = BUILT_IN_PEERS[name];
        if (!start) {
          process.stderr.write(`--peers: unknown peer "${name}" (built in: ${Object.keys(BUILT_IN_PEERS).join(", ")}; others with --peer NAME=SPEC)\n`);
          process.exit(2);
        }
        return { name, start };
      });
      for (const spec of values.peer ?? []) peers.push(peerFromSpec(spec));
      await runPeers({
        peers,
        rounds: Number(values.rounds),
        stormSizes: sizes,
        scenarios: peerScenarios,
        steadyAgents: Number(values["steady-agents"]),
        steadySeconds: Number(values["steady-seconds"]),
        idleAgents: Number(values["peers-idle-agents"]),
        report,
      });
      break;
    }
    case "ab": {
      if (!values["ab-base"]) {
        process.stderr.write(`ab needs --ab-base DIR (another checkout of Fleetplane)\n\n${HELP}`);
        process.exit(2);
      }
      const { runAb } = await import("./ab-scenario.js");
      await runAb({
        base: values["ab-base"],
        rounds: Number(values["ab-rounds"]),
        paired: values["ab-paired"],
        stormAgents: oneStormSize,
        steadyAgents: Number(values["steady-agents"]),
        steadySeconds: Number(values["steady-seconds"]),
        report,
      });
      break;
    }
    case "workers": {
      const { workerScaling } = await import("./workers-scenario.js");
      const levels = values["workers-levels"]!.split(",").map((x) => Number(x.trim())).filter((n) => Number.isInteger(n) && n >= 0);
      const { storm, steady } = await workerScaling({ workers: levels, stormAgents: oneStormSize, steadyAgents: Number(values["steady-agents"]), steadySeconds: Number(values["steady-seconds"]) });
      report("workers-storm", "Connect storm by gateway workers (0: the gateway in the process)", storm);
      report("workers-steady", "Steady state by gateway workers (0: the gateway in the process)", steady);
      break;
    }
    case "idle100k": {
      const { idleHundredThousand } = await import("./workers-scenario.js");
      const workers = Number(values["idle100k-workers"]);
      const row = await idleHundredThousand({
        agents: Number(values["idle100k-agents"]),
        workers,
        simProcesses: values["sim-processes"] !== undefined ? simulator.processes : workers,
        rampPerSecond: Number(values["idle100k-ramp"]),
        heartbeatSeconds: Number(values["idle100k-seconds"]),
        settleSeconds: Number(values["idle100k-settle"]),
        settledPercent: Number(values["idle100k-answered"]),
        maxConnecting: values["idle100k-max-connecting"]!,
        heapReports: values["idle100k-heap"]!,
        ...(values["idle100k-checkout"] ? { checkout: values["idle100k-checkout"] } : {}),
      });
      report("idle-100k", "Idle WebSocket agents across processes, with their heartbeats", [row]);
      break;
    }
    case "groups": {
      const { newAgentCost, groupVersionChange } = await import("./groups-scenario.js");
      const storm = Number(values["groups-storm-agents"]);
      const costs: Row[] = [];
      for (const groups of [1, Number(values["groups-count"])]) costs.push(await withServer(startStandaloneServer, (s) => newAgentCost(s, groups, storm)));
      const [one, many] = costs.map((r) => Number(r["cpu ms per agent"]));
      costs[0]!["vs 1 group"] = "—";
      costs[1]!["vs 1 group"] = `${many! >= one! ? "+" : ""}${round(((many! - one!) / one!) * 100, 1)} %`;
      report("groups-new-agent", "New-agent cost by groups in the namespace (connect storm, config in the first reply)", costs);
      const change = await withServer(startStandaloneServer, (s) => groupVersionChange(s, Number(values["groups-agents"])));
      report("groups-version-change", "A group's version change reaching its connected agents", [change]);
      break;
    }
    case "rollout": {
      const { benchStages, rolloutRun } = await import("./rollout-scenario.js");
      const stages = benchStages(values["rollout-stages"]!);
      const rows: Row[] = [];
      for (const mode of values["rollout-modes"]!.split(",")) {
        const start = mode === "distributed" ? startDistributedMode : startStandaloneServer;
        for (const failPercent of values["rollout-fail-percent"]!.split(",").map(Number)) {
          const ramp = values["rollout-ramp"] === undefined ? {} : { rampPerSecond: Number(values["rollout-ramp"]) };
          rows.push(await withServer(start, (s) => rolloutRun(s, { agents: Number(values["rollout-agents"]), stages, bakeMs: Number(values["rollout-bake-seconds"]) * 1000, failPercent, ...ramp })));
        }
      }
      report("rollout", "A staged rollout of a new version to one group (stage times from the server's stage timestamps)", rows);
      break;
    }
    case "groups-change": {
      const { groupVersionChange } = await import("./groups-scenario.js");
      const change = await withServer(startStandaloneServer, (s) => groupVersionChange(s, Number(values["groups-agents"])));
      report("groups-version-change", "A group's version change reaching its connected agents", [change]);
      break;
    }
    default:
      process.stderr.write(`unknown scenario "${scenario}"\n\n${HELP}`);
      process.exit(2);
  }
}
process.exit(0);
