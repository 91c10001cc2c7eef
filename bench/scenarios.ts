import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { bearer } from "../test/support/admin-key.js";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { Fleet, type FleetOptions, LatencyHistogram } from "@fleetplane/simulator";
import type { ServerUnderTest } from "./fleetplane-server.js";
import { processStats, totalStats } from "./proc-stats.js";
import { mb, round, type Row } from "./report.js";

const IDLE_MS = 300_000; // agents that only connect and stay quiet

/** Simulated WebSocket agents that stay quiet after connecting unless `o` says otherwise. */
export function fleetFor(server: ServerUnderTest, o: Partial<FleetOptions> & { agents: number }): Fleet {
  return new Fleet({
    url: server.opampWsUrl,
    transport: "ws",
    intervalMs: IDLE_MS,
    jitter: 0.1,
    closedLoop: false,
    gzip: false,
    failMarker: "",
    rampPerSecond: 0,
    ...o,
  });
}

const progress = (what: string, fleet: Fleet, target: number) =>
  setInterval(() => {
    const s = fleet.snapshot();
    process.stderr.write(`  ${what}: answered ${s.firstReplies}/${target}, connected ${s.connected}, msg/s ${s.messagesPerSecond}, errors ${s.errorResponses + s.transportErrors + s.connectFailures}\n`);
  }, 2_000);

/** 1. N agents connect at once and send a full first report: time until all are answered. */
export async function connectStorm(server: ServerUnderTest, agents: number): Promise<Row> {
  const before = totalStats(server.pids);
  const fleet = fleetFor(server, { agents, rampPerSecond: 0 });
  const tick = progress("connect storm", fleet, agents);
  const t0 = performance.now();
  let seconds = NaN;
  try {
    await fleet.start();
    await fleet.whenFirstReplies(agents, 120_000);
    seconds = (performance.now() - t0) / 1000;
  } catch (err) {
    process.stderr.write(`  connect storm: ${(err as Error).message}\n`);
  } finally {
    clearInterval(tick);
  }
  const after = totalStats(server.pids);
  const s = fleet.snapshot();
  fleet.stop();
  return {
    server: server.name,
    agents,
    answered: s.firstReplies,
    seconds: round(seconds, 2),
    "agents/s": round(s.firstReplies / seconds, 0),
    "first reply p50 ms": s.latencyMs.p50,
    "p99 ms": s.latencyMs.p99,
    errors: s.errorResponses + s.transportErrors + s.connectFailures,
    "server cpu s": round((after.cpuMs - before.cpuMs) / 1000, 1),
    "server rss MiB": mb(after.rssBytes),
  };
}

/** 2. Memory of the process holding the sockets, per idle WebSocket agent, at growing fleet sizes. */
export async function idleHold(server: ServerUnderTest, levels: number[]): Promise<Row[]> {
  const rows: Row[] = [];
  const fleets: Fleet[] = [];
  const base = processStats(server.gatewayPid).rssBytes;
  let held = 0;
  try {
    for (const level of levels) {
      const fleet = fleetFor(server, { agents: level - held, rampPerSecond: 2_000 });
      fleets.push(fleet);
      const tick = progress(`idle hold → ${level}`, fleet, level - held);
      try {
        await fleet.start();
        await fleet.whenFirstReplies(level - held, 180_000);
      } finally {
        clearInterval(tick);
      }
      held = level;
      await new Promise((r) => setTimeout(r, 3_000)); // let allocations settle
      const rss = processStats(server.gatewayPid).rssBytes;
      const connected = fleets.reduce((n, f) => n + f.stats.connected, 0);
      rows.push({ server: server.name, agents: level, connected, "gateway rss MiB": mb(rss), "KiB per agent": round((rss - base) / 1024 / level, 1) });
    }
  } catch (err) {
    process.stderr.write(`  idle hold: ${(err as Error).message}\n`);
  } finally {
    for (const f of fleets) f.stop();
  }
  return rows;
}

/** 3. Status reports per second, closed loop: every agent sends its next report when the reply arrives. */
export async function steadyState(server: ServerUnderTest, agents: number, seconds: number): Promise<Row> {
  const fleet = fleetFor(server, { agents, closedLoop: true, rampPerSecond: 2_000 });
  await fleet.start();
  await fleet.whenFirstReplies(agents, 120_000);
  await new Promise((r) => setTimeout(r, 3_000)); // warm-up
  fleet.resetLatency();
  const before = totalStats(server.pids);
  const received0 = fleet.stats.received;
  const errors0 = fleet.stats.errorResponses + fleet.stats.transportErrors;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const received = fleet.stats.received - received0;
  const after = totalStats(server.pids);
  const latency = fleet.stats.latency.summary();
  const errors = fleet.stats.errorResponses + fleet.stats.transportErrors - errors0;
  fleet.stop();
  return {
    server: server.name,
    agents,
    seconds: round(elapsed, 1),
    "reports/s": Math.round(received / elapsed),
    "p50 ms": latency.p50,
    "p99 ms": latency.p99,
    errors,
    "server cores busy": round((after.cpuMs - before.cpuMs) / 1000 / elapsed, 2),
    "server rss MiB": mb(after.rssBytes),
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
