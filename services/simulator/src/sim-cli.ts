import { formatHelp, parseOptions, type OptionSpec } from "@fleetplane/platform";
import { cpus } from "node:os";
import { Fleet, type FleetSnapshot } from "./fleet.js";
import { ProcessFleet, type ProcessFleetStats } from "./process-fleet.js";

export const SIM_OPTIONS: OptionSpec[] = [
  { name: "url", kind: "string", description: "OpAMP endpoint (ws:// or http://)", default: "ws://127.0.0.1:4320/v1/opamp" },
  { name: "agents", kind: "number", description: "How many agents to simulate", default: "100" },
  { name: "transport", kind: "string", description: "ws, http or mixed (half each)", default: "ws" },
  { name: "interval-seconds", kind: "number", description: "Time between status reports (WebSocket heartbeats, HTTP polls)", default: "30" },
  { name: "jitter", kind: "number", description: "Random spread of the interval, as a fraction (0..1)", default: "0.1" },
  { name: "closed-loop", kind: "boolean", description: "Send the next report as soon as the reply arrives (throughput test)", default: "false" },
  { name: "ramp-per-second", kind: "number", description: "Agents started per second; 0 starts all at once", default: "1000" },
  { name: "duration-seconds", kind: "number", description: "Stop after this long; 0 runs until Ctrl-C", default: "0" },
  { name: "gzip", kind: "boolean", description: "gzip HTTP requests and accept gzip replies", default: "false" },
  { name: "fail-marker", kind: "string", description: "Remote configs containing this text are reported FAILED", default: "fleetplane-sim:fail" },
  { name: "token", kind: "string", description: "Enrollment token the agents present (Authorization: Bearer), for a server run with --agent-auth token" },
  { name: "processes", kind: "number", description: "Simulator processes the agents are spread over (each its own core and its own open-file limit); 1: this process", default: "1" },
  { name: "json", kind: "boolean", description: "Print the final summary as JSON on stdout", default: "false" },
];

/** `fleetplane sim`: run a simulated fleet, show progress on stderr, print a summary. */
export async function runSimCli(argv: string[]): Promise<number> {
  const { values: v, help } = parseOptions(SIM_OPTIONS, argv);
  if (help) {
    process.stdout.write(formatHelp("fleetplane sim [options]", "Simulates a fleet of OpAMP agents (OpenTelemetry Collector-like) against a server.", SIM_OPTIONS));
    return 0;
  }
  const transport = String(v.transport);
  if (!["ws", "http", "mixed"].includes(transport)) throw new Error(`--transport must be ws, http or mixed, got "${transport}"`);
  const processes = Number(v.processes);
  if (!Number.isInteger(processes) || processes < 1) throw new Error(`--processes must be a whole number of at least 1, got ${String(v.processes)}`);
  const options = {
    url: String(v.url),
    agents: Number(v.agents),
    transport: transport as "ws" | "http" | "mixed",
    intervalMs: Number(v["interval-seconds"]) * 1000,
    jitter: Number(v.jitter),
    closedLoop: Boolean(v["closed-loop"]),
    gzip: Boolean(v.gzip),
    failMarker: String(v["fail-marker"]),
    rampPerSecond: Number(v["ramp-per-second"]),
    ...(v.token !== undefined ? { token: String(v.token) } : {}),
  };
  const stop = new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
    const seconds = Number(v["duration-seconds"]);
    if (seconds > 0) setTimeout(resolve, seconds * 1000).unref();
  });
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  let summary: SimSummary;
  if (processes === 1) {
    const fleet = new Fleet(options);
    const progress = setInterval(() => process.stderr.write(progressLine(fleet.snapshot(), Number(v.agents)) + "\n"), 1000);
    void fleet.start();
    await stop;
    clearInterval(progress);
    const last = fleet.snapshot();
    fleet.stop();
    const cpu = process.cpuUsage(cpuAtStart);
    summary = { ...last, averageMessagesPerSecond: Math.round(last.received / Math.max(0.001, last.elapsedSeconds)), simulatorCpuSeconds: round2((cpu.user + cpu.system) / 1e6), simulatorCoresBusy: 0 };
  } else {
    const fleet = new ProcessFleet({ ...options, processes });
    const progress = setInterval(() => {
      void fleet.collect().then((s) => process.stderr.write(progressLine(snapshotOf(s, started), Number(v.agents)) + "\n"), () => {});
    }, 1000);
    await fleet.start();
    await stop;
    clearInterval(progress);
    const stats = await fleet.collect();
    const last = snapshotOf(stats, started);
    const cpuMs = stats.cpuMs;
    await fleet.stop();
    summary = { ...last, averageMessagesPerSecond: Math.round(last.received / Math.max(0.001, last.elapsedSeconds)), simulatorCpuSeconds: round2(cpuMs / 1000), simulatorCoresBusy: 0 };
  }
  summary.simulatorCoresBusy = round2(summary.simulatorCpuSeconds / Math.max(0.001, (performance.now() - started) / 1000));
  if (v.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else process.stdout.write(summaryTable(summary, processes));
  return 0;
}

type SimSummary = FleetSnapshot & { averageMessagesPerSecond: number; simulatorCpuSeconds: number; simulatorCoresBusy: number };
const round2 = (x: number) => Math.round(x * 100) / 100;

/** A ProcessFleet's summed counters in the shape of a Fleet snapshot. */
function snapshotOf(s: ProcessFleetStats, startedAt: number): FleetSnapshot {
  return {
    elapsedSeconds: Math.round((performance.now() - startedAt) / 100) / 10,
    started: s.connected + s.connectFailures,
    connected: s.connected,
    firstReplies: s.firstReplies,
    sent: s.sent,
    received: s.received,
    messagesPerSecond: 0,
    errorResponses: s.errorResponses,
    transportErrors: s.transportErrors,
    connectFailures: s.connectFailures,
    disconnects: s.disconnects,
    configsApplied: 0,
    configsFailed: 0,
    latencyMs: s.latency.summary(),
  };
}

export function progressLine(s: FleetSnapshot, target: number): string {
  return (
    `t=${s.elapsedSeconds.toFixed(1)}s started ${s.started}/${target} connected ${s.connected} answered ${s.firstReplies} ` +
    `msg/s ${s.messagesPerSecond} errors ${s.errorResponses + s.transportErrors} p50 ${s.latencyMs.p50}ms p99 ${s.latencyMs.p99}ms`
  );
}

function summaryTable(s: SimSummary, processes: number): string {
  const rows: Array<[string, string | number]> = [
    ["elapsed (s)", s.elapsedSeconds],
    ["agents started", s.started],
    ["agents answered", s.firstReplies],
    ["connected now", s.connected],
    ["messages sent / received", `${s.sent} / ${s.received}`],
    ["average messages/s", s.averageMessagesPerSecond],
    ["error responses", s.errorResponses],
    ["transport errors", s.transportErrors],
    ["connect failures", s.connectFailures],
    ["configs applied / failed", `${s.configsApplied} / ${s.configsFailed}`],
    [`simulator CPU s (${processes} process${processes > 1 ? "es" : ""})`, `${s.simulatorCpuSeconds} (${s.simulatorCoresBusy} cores busy${s.simulatorCoresBusy > 0.8 * Math.min(processes, cpus().length) ? ": over 80 % of its cores — the simulator may be the limit" : ""})`],
    ["reply latency ms p50 / p90 / p99 / max", `${s.latencyMs.p50} / ${s.latencyMs.p90} / ${s.latencyMs.p99} / ${s.latencyMs.max}`],
  ];
  return "\n" + rows.map(([k, val]) => `  ${k.padEnd(40)} ${val}`).join("\n") + "\n";
}
