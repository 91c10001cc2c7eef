import { Fleet } from "@fleetplane/simulator";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// The /proc reader the benchmarks use: one reading of RSS for bench and chaos alike.
import { processStats } from "../../bench/proc-stats.js";
import { memorySlopeMiBPerMinute } from "./memory-slope.js";
import { ServerProcess, standaloneCommand } from "./server-process.js";

export interface SoakOptions {
  /** Simulated WebSocket agents (default 2,000); one process holds up to ~18,000 (20,000 open files). */
  agents?: number;
  minutes?: number;
  /** Status report interval of each agent (default 10 s). */
  intervalMs?: number;
  /** RSS sample interval (default 10 s). */
  sampleMs?: number;
  progress?: (line: string) => void;
}

export interface SoakReport {
  agents: number;
  minutes: number;
  rssStartMiB: number;
  rssEndMiB: number;
  /** Least-squares slope of the server's RSS over the soak (after the ramp). */
  memorySlopeMiBPerMinute: number;
  replyLatencyMs: { p50: number; p99: number; max: number; count: number };
  disconnects: number;
  transportErrors: number;
  serverLinesLogged: number;
  serverDied: string | undefined;
}

/** The soak: N agents reporting for M minutes against one standalone server, sampling its memory. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const agents = options.agents ?? 2_000;
  const minutes = options.minutes ?? 10;
  const sampleMs = options.sampleMs ?? 10_000;
  const server = await ServerProcess.start(standaloneCommand(mkdtempSync(join(tmpdir(), "fleetplane-chaos-soak-"))));
  const fleet = new Fleet({ url: server.opampWsUrl, agents, transport: "ws", intervalMs: options.intervalMs ?? 10_000, jitter: 0.3, closedLoop: false, gzip: false, failMarker: "", rampPerSecond: 1_000 });
  try {
    await fleet.start();
    await fleet.whenFirstReplies(agents, 300_000);
    fleet.resetLatency();
    const started = performance.now();
    const samples: Array<{ atMs: number; rssBytes: number }> = [];
    while (performance.now() - started < minutes * 60_000 && server.alive) {
      samples.push({ atMs: performance.now() - started, rssBytes: processStats(server.pid).rssBytes });
      const last = samples.at(-1)!;
      options.progress?.(`soak: ${(last.atMs / 60_000).toFixed(1)} min, RSS ${Math.round(last.rssBytes / 2 ** 20)} MiB, slope ${memorySlopeMiBPerMinute(samples).toFixed(2)} MiB/min, p99 ${fleet.stats.latency.quantile(0.99).toFixed(1)} ms`);
      await new Promise((r) => setTimeout(r, sampleMs));
    }
    const latency = fleet.stats.latency.summary();
    return {
      agents,
      minutes,
      rssStartMiB: Math.round((samples[0]?.rssBytes ?? 0) / 2 ** 20),
      rssEndMiB: Math.round((samples.at(-1)?.rssBytes ?? 0) / 2 ** 20),
      memorySlopeMiBPerMinute: Math.round(memorySlopeMiBPerMinute(samples) * 100) / 100,
      replyLatencyMs: { p50: latency.p50, p99: latency.p99, max: latency.max, count: latency.count },
      disconnects: fleet.stats.disconnects,
      transportErrors: fleet.stats.transportErrors,
      serverLinesLogged: server.linesLogged,
      serverDied: server.problem(),
    };
  } finally {
    fleet.stop();
    await server.stop();
  }
}
