import { formatHelp, parseOptions, type OptionSpec } from "@fleetplane/platform";
import { Fleet, type FleetSnapshot } from "./fleet.js";

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
  const fleet = new Fleet({
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
  });
  const progress = setInterval(() => process.stderr.write(progressLine(fleet.snapshot(), Number(v.agents)) + "\n"), 1000);
  const stop = new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
    const seconds = Number(v["duration-seconds"]);
    if (seconds > 0) setTimeout(resolve, seconds * 1000).unref();
  });
  void fleet.start();
  await stop;
  clearInterval(progress);
  const last = fleet.snapshot();
  const summary = { ...last, averageMessagesPerSecond: Math.round(last.received / Math.max(0.001, last.elapsedSeconds)) };
  fleet.stop();
  if (v.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else process.stdout.write(summaryTable(summary));
  return 0;
}

export function progressLine(s: FleetSnapshot, target: number): string {
  return (
    `t=${s.elapsedSeconds.toFixed(1)}s started ${s.started}/${target} connected ${s.connected} answered ${s.firstReplies} ` +
    `msg/s ${s.messagesPerSecond} errors ${s.errorResponses + s.transportErrors} p50 ${s.latencyMs.p50}ms p99 ${s.latencyMs.p99}ms`
  );
}

function summaryTable(s: FleetSnapshot & { averageMessagesPerSecond: number }): string {
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
    ["reply latency ms p50 / p90 / p99 / max", `${s.latencyMs.p50} / ${s.latencyMs.p90} / ${s.latencyMs.p99} / ${s.latencyMs.max}`],
  ];
  return "\n" + rows.map(([k, val]) => `  ${k.padEnd(40)} ${val}`).join("\n") + "\n";
}
