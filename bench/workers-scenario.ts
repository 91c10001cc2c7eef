import { loadavg } from "node:os";
import { ProcessFleet } from "@fleetplane/simulator";
import { startStandaloneServer, type ServerUnderTest } from "./fleetplane-server.js";
import { processStats, pssBytes, smapsRollup, totalStats } from "./proc-stats.js";
import { SignalledFiles } from "./process-heap-report.js";
import { mb, round, type Row } from "./report.js";
import { connectStorm, simulatorLoad, steadyState } from "./scenarios.js";
import { answeredNeeded, whenSettled } from "./fleet-settled.js";

/**
 * 6. The scaling curve of the gateway workers: the same storm and steady
 * state against standalone with the gateway in the process (0), on 1 and on
 * 2 worker processes. On a 2-core machine the simulator shares the cores, so
 * the sim columns say how much of them it took.
 */
export async function workerScaling(o: { workers: number[]; stormAgents: number; steadyAgents: number; steadySeconds: number }): Promise<{ storm: Row[]; steady: Row[] }> {
  const storm: Row[] = [];
  const steady: Row[] = [];
  for (const workers of o.workers) {
    for (const [rows, run] of [
      [storm, (s: ServerUnderTest) => connectStorm(s, o.stormAgents)],
      [steady, (s: ServerUnderTest) => steadyState(s, o.steadyAgents, o.steadySeconds)],
    ] as const) {
      const server = await startStandaloneServer({ workers });
      try {
        rows.push({ workers, ...(await run(server)) });
      } finally {
        await server.stop();
      }
    }
  }
  return { storm, steady };
}

/** Each process's RSS in MiB, the primary first: where a deployment's memory is. */
const perProcessRss = (pids: number[]) => pids.map((p) => mb(processStats(p).rssBytes)).join(" · ");

/**
 * Where each process's memory is (MiB, the primary first): anonymous RSS,
 * and V8's heap used / committed as a diagnostic report gives it (no
 * collection forced), with the old generation's and the young one's part —
 * what a flood left for the collector or for V8 to hand back, against what
 * lives outside V8 (malloc arenas, native handles).
 */
async function heapOfEach(pids: number[], files: SignalledFiles): Promise<string> {
  const parts: string[] = [];
  for (const pid of pids) {
    const anon = smapsRollup(pid).anonKiB * 1024;
    const h = await files.heapReport(pid);
    const old = h.spaces.get("old_space") ?? { committed: 0, used: 0 };
    const young = h.spaces.get("new_space") ?? { committed: 0, used: 0 };
    parts.push(`anon ${mb(anon)}: heap ${mb(h.used)}/${mb(h.committed)} (old ${mb(old.used)}/${mb(old.committed)}, young ${mb(young.used)}/${mb(young.committed)}), ext ${mb(h.external)}`);
  }
  return parts.join(" · ");
}

/**
 * 7. 100,000 idle WebSocket agents (or --idle100k-agents) on standalone
 * with gateway workers: each process here may open 20,000 files, so the
 * sockets are spread over server workers and simulator processes, and each
 * simulator process connects from its own loopback address (one address has
 * ~28,000 ephemeral ports towards one server port). The agents heartbeat
 * every 30 s (the spec's default) and the steady load of that is measured
 * over `heartbeatSeconds`, from `settleSeconds` after `settledPercent` of
 * them have answered (100: after the last one; see fleet-settled.ts).
 */
export async function idleHundredThousand(o: {
  agents: number;
  workers: number;
  simProcesses: number;
  rampPerSecond: number;
  heartbeatSeconds: number;
  settleSeconds: number;
  settledPercent: number;
  maxConnecting: string;
  /** Each process's anonymous memory and V8 heap at the window's start and end (diagnostic reports on SIGUSR2). */
  heapReports?: boolean;
  /** Another build of the project to run as the server (a worktree of main, for A/B with this bench). */
  checkout?: string;
}): Promise<Row> {
  const needed = answeredNeeded(o.agents, o.settledPercent);
  const files = o.heapReports ? new SignalledFiles() : undefined;
  if (files) process.env.FLEETPLANE_BENCH_NODE_ARGS = `${process.env.FLEETPLANE_BENCH_NODE_ARGS ?? ""} ${files.reportArgs()}`;
  // Each worker may hold 18,000 (its default 15,000 is too few for a sixth of 100,000 and uneven
  // accepts, and 20,000 files is the hard cap): an agent refused by a full worker (503) retries and
  // lands on another.
  const server = await startStandaloneServer({ workers: o.workers, args: ["--max-connections", "18000", "--max-connecting-agents", o.maxConnecting], ...(o.checkout ? { checkout: o.checkout } : {}) });
  const fleet = new ProcessFleet({
    url: server.opampWsUrl,
    agents: o.agents,
    transport: "ws",
    intervalMs: 30_000,
    jitter: 0.1,
    closedLoop: false,
    gzip: false,
    failMarker: "",
    rampPerSecond: Math.ceil(o.rampPerSecond / o.simProcesses),
    processes: o.simProcesses,
    localAddressOf: (i) => `127.0.0.${11 + i}`,
  });
  const base = totalStats(server.pids).rssBytes;
  const t0 = performance.now();
  // A run stopped from outside (Ctrl-C, `timeout -s INT`: a locked run has 10
  // minutes here) says where it got to and stops the server and the
  // simulator: left running, they held the machine's cores after the bench
  // was gone.
  const stopNow = (signal: NodeJS.Signals) => {
    // The server's side first: the simulator processes may have had the signal too and answer no more.
    const memory = `server rss ${mb(totalStats(server.pids).rssBytes)} MiB (${perProcessRss(server.pids)}), pss ${mb(server.pids.map(pssBytes).reduce((a, b) => a + b, 0))} MiB`;
    process.stderr.write(`  idle100k: stopped (${signal}) after ${Math.round((performance.now() - t0) / 1000)} s: ${memory}, load avg ${round(loadavg()[0]!, 2)}\n`);
    void fleet
      .collect()
      .then(
        (s) => process.stderr.write(`  idle100k: when stopped: answered ${s.firstReplies}/${o.agents}, connected ${s.connected}, refused or failed ${s.errorResponses + s.transportErrors + s.connectFailures}\n`),
        () => {},
      )
      .finally(() => Promise.allSettled([fleet.stop(), server.stop()]).then(() => process.exit(130)));
  };
  process.once("SIGINT", stopNow);
  process.once("SIGTERM", stopNow);
  try {
    const tick = setInterval(() => {
      void fleet.collect().then(
        (s) => process.stderr.write(`  idle100k: answered ${s.firstReplies}/${o.agents}, connected ${s.connected}, errors ${s.errorResponses + s.transportErrors + s.connectFailures}, server rss ${mb(totalStats(server.pids).rssBytes)} MiB (${perProcessRss(server.pids)})\n`),
        () => {},
      );
    }, 10_000);
    let settledAnswered: number;
    try {
      await fleet.start();
      settledAnswered = await whenSettled(
        { answered: async () => (await fleet.collect()).firstReplies, whenAllAnswered: (ms) => fleet.whenAllAnswered(ms) },
        { agents: o.agents, percent: o.settledPercent, pollMs: 2_000, timeoutMs: 1_200_000 },
      );
    } finally {
      clearInterval(tick);
    }
    const connectSeconds = (performance.now() - t0) / 1000;
    process.stderr.write(`  idle100k: settled after ${round(connectSeconds, 0)} s: ${settledAnswered}/${o.agents} answered (the rule: ${needed}, ${o.settledPercent} %); the window opens in ${o.settleSeconds} s\n`);
    // Allocations settle; with 40 s or more, every agent's first heartbeat
    // (answered by agent-service: its first report changed everything) is
    // behind too, and the window sees only heartbeats answered in the gateway.
    await new Promise((r) => setTimeout(r, o.settleSeconds * 1000));
    // The steady heartbeat load (latency: of the window's replies only, not of the first reports).
    fleet.resetLatency();
    const first = await fleet.collect();
    // Memory as the window opens too: the end alone hides whether it moved within the window.
    const pssAt = () => mb(server.pids.map(pssBytes).reduce((a, b) => a + b, 0));
    const startMemory = { rss: mb(totalStats(server.pids).rssBytes), perProcess: perProcessRss(server.pids), pss: pssAt() };
    // The reports (a second or so per process) before the window's CPU is read: they are not the heartbeats'.
    const startHeap = files ? await heapOfEach(server.pids, files) : undefined;
    const before = totalStats(server.pids);
    process.stderr.write(
      `  idle100k: window opens: answered ${first.firstReplies}/${o.agents}, connected ${first.connected}, server rss ${startMemory.rss} MiB (${startMemory.perProcess}), pss ${startMemory.pss} MiB, load avg ${round(loadavg()[0]!, 2)}\n`,
    );
    const simBefore = totalStats(fleet.pids).cpuMs;
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, o.heartbeatSeconds * 1000));
    const last = await fleet.collect();
    const window = (performance.now() - w0) / 1000;
    const after = totalStats(server.pids);
    const simCpu = totalStats(fleet.pids).cpuMs - simBefore;
    const holders = totalStats(server.socketPids ?? []).rssBytes;
    const heartbeats = last.received - first.received;
    const endPss = pssAt();
    const endHeap = files ? await heapOfEach(server.pids, files) : undefined;
    return {
      server: server.name,
      agents: o.agents,
      "window opens at": `${o.settledPercent} % answered (${needed}) + ${o.settleSeconds} s`,
      "settled s": round(connectSeconds, 0),
      "answered at window start": first.firstReplies,
      "answered at window end": last.firstReplies,
      connected: last.connected,
      errors: last.errorResponses + last.transportErrors + last.connectFailures,
      "server rss MiB at window start (all)": startMemory.rss,
      "per process MiB at window start": startMemory.perProcess,
      "server PSS MiB at window start": startMemory.pss,
      "server rss MiB (all)": mb(after.rssBytes),
      "of it workers MiB": mb(holders),
      "per process MiB (primary · workers)": perProcessRss(server.pids),
      "server PSS MiB (all)": endPss,
      ...(startHeap && endHeap ? { "anon and V8 heap used/committed MiB at window start": startHeap, "… at window end": endHeap } : {}),
      "KiB per agent (all, over start)": round((after.rssBytes - base) / 1024 / o.agents, 1),
      "within 2 GiB (rss · pss)": `${after.rssBytes <= 2 * 2 ** 30 ? "yes" : "NO"} · ${endPss <= 2 * 1024 ? "yes" : "NO"}`,
      "heartbeats/s": Math.round(heartbeats / window),
      "heartbeat p99 ms": last.latency.summary().p99,
      "server cores busy": round((after.cpuMs - before.cpuMs) / 1000 / window, 2),
      "µs server cpu per heartbeat": round(((after.cpuMs - before.cpuMs) * 1000) / Math.max(1, heartbeats), 0),
      ...simulatorLoad(fleet, simCpu, window),
      "load avg": round(loadavg()[0]!, 2),
    };
  } finally {
    process.off("SIGINT", stopNow);
    process.off("SIGTERM", stopNow);
    await fleet.stop();
    await server.stop();
    files?.dispose();
  }
}
