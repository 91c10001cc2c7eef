import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { bearer } from "../test/support/admin-key.js";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { cpus, loadavg } from "node:os";
import { Fleet, type FleetOptions, LatencyHistogram, ProcessFleet, type ProcessFleetOptions } from "@fleetplane/simulator";
import type { ServerUnderTest } from "./fleetplane-server.js";
import { totalStats } from "./proc-stats.js";
import { mb, round, type Row } from "./report.js";

const IDLE_MS = 300_000; // agents that only connect and stay quiet

/** What fleetFor and processFleetFor agents are unless told otherwise: quiet WebSocket agents, connecting at once. */
const quietAgents = (server: ServerUnderTest) =>
  ({ url: server.opampWsUrl, transport: "ws", intervalMs: IDLE_MS, jitter: 0.1, closedLoop: false, gzip: false, failMarker: "", rampPerSecond: 0 }) as const;

/** Simulated WebSocket agents that stay quiet after connecting unless `o` says otherwise. */
export function fleetFor(server: ServerUnderTest, o: Partial<FleetOptions> & { agents: number }): Fleet {
  return new Fleet({
    ...quietAgents(server),
    ...o,
  });
}

/** How the simulator runs for storm, steady and idle (pnpm bench --sim-processes). */
export const simulator = { processes: cpus().length };

/** The same agents as fleetFor, spread over the simulator's processes. */
function processFleetFor(server: ServerUnderTest, o: Partial<ProcessFleetOptions> & { agents: number }): ProcessFleet {
  return new ProcessFleet({
    ...quietAgents(server),
    processes: simulator.processes,
    ...o,
  });
}

const progress = (what: string, fleet: ProcessFleet, target: number) =>
  setInterval(() => {
    void fleet.collect().then(
      (s) => process.stderr.write(`  ${what}: answered ${s.firstReplies}/${target}, connected ${s.connected}, errors ${s.errorResponses + s.transportErrors + s.connectFailures}\n`),
      () => {},
    );
  }, 2_000);

/**
 * What the simulator itself spent: its cores busy, and a flag when it used
 * more than 80 % of the cores it had (min(processes, cores)) — then the
 * simulator, not the server, may have been the limit of the run.
 */
export function simulatorLoad(fleet: ProcessFleet, cpuMs: number, seconds: number): Row {
  const busy = cpuMs / 1000 / seconds;
  const cores = Math.min(fleet.processes, cpus().length);
  return { "sim procs": fleet.processes, "sim cores busy": round(busy, 2), "sim limit?": busy > 0.8 * cores ? "SIM >80%" : "ok" };
}

/** The 1-minute load average at the end of a run (other work on the machine shows here). */
const loadAverage = () => round(loadavg()[0]!, 2);

/** 1. N agents connect at once and send a full first report: time until all are answered, server CPU per new agent. */
export async function connectStorm(server: ServerUnderTest, agents: number): Promise<Row> {
  const fleet = processFleetFor(server, { agents, rampPerSecond: 0 });
  const before = totalStats(server.pids);
  const t0 = performance.now();
  let seconds = NaN;
  let tick: NodeJS.Timeout | undefined;
  try {
    await fleet.start();
    tick = progress("connect storm", fleet, agents);
    await fleet.whenAllAnswered(120_000);
    seconds = (performance.now() - t0) / 1000;
  } catch (err) {
    process.stderr.write(`  connect storm: ${(err as Error).message}\n`);
  } finally {
    clearInterval(tick);
  }
  const after = totalStats(server.pids);
  const elapsed = (performance.now() - t0) / 1000;
  const s = await fleet.collect();
  const simCpu = totalStats(fleet.pids).cpuMs;
  await fleet.stop();
  const serverCpuMs = after.cpuMs - before.cpuMs;
  return {
    server: server.name,
    agents,
    answered: s.firstReplies,
    seconds: round(seconds, 2),
    "agents/s": round(s.firstReplies / seconds, 0),
    "first reply p50 ms": s.latency.summary().p50,
    "p99 ms": s.latency.summary().p99,
    errors: s.errorResponses + s.transportErrors + s.connectFailures,
    "server cpu s": round(serverCpuMs / 1000, 2),
    "server cpu µs per agent": Math.round((serverCpuMs * 1000) / Math.max(1, s.firstReplies)),
    "server rss MiB": mb(after.rssBytes),
    ...simulatorLoad(fleet, simCpu, elapsed),
    "load avg": loadAverage(),
  };
}

/**
 * 2. Memory of the processes holding the sockets, per idle WebSocket agent, at growing fleet sizes: at
 * each level 3 s after its last first reply (the flood's heap is still in it: the figure the peers are
 * compared by) and, with `settledSeconds`, again that long after it, when the server has had time to
 * hand back what the flood left (docs/performance.md §28).
 */
export async function idleHold(server: ServerUnderTest, levels: number[], settledSeconds = 0): Promise<Row[]> {
  const rows: Row[] = [];
  const fleets: ProcessFleet[] = [];
  const holders = server.socketPids ?? [server.gatewayPid];
  const base = totalStats(holders).rssBytes;
  const baseAll = totalStats(server.pids).rssBytes;
  let held = 0;
  try {
    for (const level of levels) {
      const fleet = processFleetFor(server, { agents: level - held, rampPerSecond: 2_000 });
      fleets.push(fleet);
      await fleet.start();
      const tick = progress(`idle hold → ${level}`, fleet, level - held);
      try {
        await fleet.whenAllAnswered(180_000);
      } finally {
        clearInterval(tick);
      }
      held = level;
      await new Promise((r) => setTimeout(r, 3_000)); // let allocations settle
      const rss = totalStats(holders).rssBytes;
      const all = totalStats(server.pids).rssBytes;
      let connected = 0;
      for (const f of fleets) connected += (await f.collect()).connected;
      rows.push({
        server: server.name,
        agents: level,
        connected,
        "socket holders rss MiB": mb(rss),
        "KiB per agent": round((rss - base) / 1024 / level, 1),
        "server rss MiB (all)": mb(all),
        "server KiB per agent (all)": round((all - baseAll) / 1024 / level, 1),
        ...(settledSeconds > 0 ? await settledRss(holders, base, level, settledSeconds - 3) : {}),
        "load avg": loadAverage(),
      });
    }
  } catch (err) {
    process.stderr.write(`  idle hold: ${(err as Error).message}\n`);
  } finally {
    for (const f of fleets) await f.stop();
  }
  return rows;
}

/** The socket holders' RSS per agent after `waitSeconds` more of the idle hold. */
async function settledRss(holders: number[], base: number, agents: number, waitSeconds: number): Promise<Row> {
  await new Promise((r) => setTimeout(r, waitSeconds * 1000));
  return { "KiB per agent, settled": round((totalStats(holders).rssBytes - base) / 1024 / agents, 1) };
}

/** 3. Status reports per second, closed loop (every agent sends its next report when the reply arrives), and per server core-second. */
export async function steadyState(server: ServerUnderTest, agents: number, seconds: number): Promise<Row> {
  const fleet = processFleetFor(server, { agents, closedLoop: true, rampPerSecond: 2_000 });
  await fleet.start();
  await fleet.whenAllAnswered(120_000);
  await new Promise((r) => setTimeout(r, 3_000)); // warm-up
  fleet.resetLatency();
  const first = await fleet.collect();
  const before = totalStats(server.pids);
  const simBefore = totalStats(fleet.pids).cpuMs;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const last = await fleet.collect();
  const elapsed = (performance.now() - t0) / 1000;
  const after = totalStats(server.pids);
  const simCpu = totalStats(fleet.pids).cpuMs - simBefore;
  await fleet.stop();
  const received = last.received - first.received;
  const latency = last.latency.summary();
  const serverCoreSeconds = (after.cpuMs - before.cpuMs) / 1000;
  return {
    server: server.name,
    agents,
    seconds: round(elapsed, 1),
    "reports/s": Math.round(received / elapsed),
    "p50 ms": latency.p50,
    "p99 ms": latency.p99,
    errors: last.errorResponses + last.transportErrors - first.errorResponses - first.transportErrors,
    "server cores busy": round(serverCoreSeconds / elapsed, 2),
    "reports per server core-s": Math.round(received / Math.max(0.001, serverCoreSeconds)),
    "µs server cpu per report": round((serverCoreSeconds * 1e6) / Math.max(1, received), 1),
    "server rss MiB": mb(after.rssBytes),
    ...simulatorLoad(fleet, simCpu, elapsed),
    "load avg": loadAverage(),
  };
}

/**
 * 4. Push fan-out: a new remote config for each of K connected agents (one
 * admin call each, 64 in flight): from each call to that agent's receipt,
 * and until agent-service has recorded APPLIED for all K.
 */
export async function pushFanout(server: ServerUnderTest, k: number): Promise<Row> {
  if (!server.apiUrl) throw new Error(`${server.name} has no Fleetplane admin API`);
  const issued = new Map<string, number>();
  const receipt = new LatencyHistogram();
  let lastReceipt = 0;
  const fleet = fleetFor(server, {
    agents: k,
    rampPerSecond: 2_000,
    onRemoteConfig: (agent, _config, at) => {
      const t = issued.get(agent.uidHex);
      if (t === undefined) return;
      receipt.record(at - t);
      issued.delete(agent.uidHex);
      lastReceipt = at;
    },
  });
  await fleet.start();
  await fleet.whenFirstReplies(k, 180_000);
  const api = createClient(AgentService, createConnectTransport({ baseUrl: server.apiUrl, httpVersion: "2", interceptors: server.apiKey ? [bearer(server.apiKey)] : [] }));
  const body = `exporters:\n  debug: {}\n# fan-out ${Date.now()}\n`;
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < fleet.agents.length) {
      const agent = fleet.agents[next++]!;
      issued.set(agent.uidHex, performance.now());
      await api.setRemoteConfig({ instanceUid: agent.uidHex, files: { "": { content: { case: "text", value: body } } }, requestedBy: "bench" }).catch(() => failed++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(64, k) }, worker));
  const callsDone = performance.now();
  const deadline = Date.now() + 120_000;
  while (receipt.count < k - failed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  // Until the server has recorded every agent's APPLIED report.
  let applied = 0;
  while (Date.now() < deadline) {
    applied = await countApplied(api, k);
    if (applied >= k - failed) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const allApplied = performance.now();
  fleet.stop();
  const r = receipt.summary();
  return {
    server: server.name,
    K: k,
    received: receipt.count,
    "calls s": round((callsDone - t0) / 1000, 2),
    "receipt p50 ms": r.p50,
    "p99 ms": r.p99,
    "max ms": r.max,
    "last receipt s": round((lastReceipt - t0) / 1000, 2),
    "all APPLIED s": round((allApplied - t0) / 1000, 2),
    applied,
    "failed calls": failed,
  };
}

async function countApplied(api: ReturnType<typeof createClient<typeof AgentService>>, max: number): Promise<number> {
  let n = 0;
  let pageToken = "";
  do {
    const page = await api.listAgents({ pageSize: 1000, pageToken, filter: { remoteConfigState: RemoteConfigState.APPLIED } });
    n += page.agents.length;
    pageToken = page.nextPageToken;
  } while (pageToken && n < max);
  return n;
}
