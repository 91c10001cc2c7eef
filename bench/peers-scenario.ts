import type { ServerUnderTest } from "./fleetplane-server.js";
import type { PeerStart } from "./peer-servers.js";
import { type Row } from "./report.js";
import { connectStorm, idleHold, steadyState } from "./scenarios.js";

/**
 * 5. The same scenarios, the same simulator, against every peer, one server
 * at a time and a fresh server for each run. Rounds interleave the servers
 * (round 1: each server once, then round 2, …) so that whatever else the
 * machine does drifts over all of them alike; each row carries its run's
 * load average. The per-core figures are what compare: server CPU per new
 * agent in a storm, reports per server core-second in steady state.
 * (Push fan-out needs Fleetplane's admin API, so it has no peer figure.)
 */
export async function runPeers(o: {
  peers: Array<{ name: string; start: PeerStart }>;
  rounds: number;
  stormAgents: number;
  steadyAgents: number;
  steadySeconds: number;
  idleAgents: number;
  report: (scenario: string, title: string, rows: Row[]) => void;
}) {
  const storm: Row[] = [];
  const steady: Row[] = [];
  const idle: Row[] = [];
  const scenarios: Array<[string, (s: ServerUnderTest, tag: Row) => Promise<void>]> = [
    ["storm", async (s, tag) => void storm.push({ ...tag, ...(await connectStorm(s, o.stormAgents)) })],
    ["steady", async (s, tag) => void steady.push({ ...tag, ...(await steadyState(s, o.steadyAgents, o.steadySeconds)) })],
    ["idle", async (s, tag) => void idle.push(...(await idleHold(s, [o.idleAgents])).map((r) => ({ ...tag, ...r })))],
  ];
  for (let round = 1; round <= o.rounds; round++) {
    for (const [what, run] of scenarios) {
      for (const peer of o.peers) {
        process.stderr.write(`\n-- round ${round}/${o.rounds}: ${what} against ${peer.name}\n`);
        const server = await peer.start();
        try {
          await run(server, { round, peer: peer.name });
        } catch (err) {
          process.stderr.write(`  ${what} against ${peer.name} failed: ${(err as Error).message}\n`);
        } finally {
          await server.stop();
        }
      }
    }
  }
  o.report("peers-storm", "Connect storm, side by side (server CPU per new agent is the per-core figure)", storm);
  o.report("peers-steady", "Steady state, side by side (reports per server core-second is the per-core figure)", steady);
  o.report("peers-idle", "Idle hold, side by side", idle);
  o.report("peers-summary", "Per server: range over the rounds", summarize(o.peers.map((p) => p.name), storm, steady, idle));
}

/** One row per peer: min–max of the per-core figures over the rounds, and the load averages seen. */
function summarize(names: string[], storm: Row[], steady: Row[], idle: Row[]): Row[] {
  const range = (rows: Row[], col: string, digits = 0) => {
    const v = rows.map((r) => Number(r[col])).filter(Number.isFinite);
    if (v.length === 0) return "n/a";
    const f = (x: number) => x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
    const [lo, hi] = [Math.min(...v), Math.max(...v)];
    return lo === hi ? f(lo) : `${f(lo)}–${f(hi)}`;
  };
  return names.map((name) => {
    const [st, sd, id] = [storm, steady, idle].map((rows) => rows.filter((r) => r.peer === name)) as [Row[], Row[], Row[]];
    return {
      peer: name,
      "storm: server CPU µs per new agent": range(st, "server cpu µs per agent"),
      "storm: server CPU s": range(st, "server cpu s", 2),
      "steady: reports/s": range(sd, "reports/s"),
      "steady: reports per server core-s": range(sd, "reports per server core-s"),
      "steady: server cores busy": range(sd, "server cores busy", 2),
      "idle: KiB per agent": range(id, "KiB per agent", 1),
      "load avg (each run)": [...st, ...sd, ...id].map((r) => r["load avg"]).join(" "),
      "runs with sim >80 %": [...st, ...sd].filter((r) => r["sim limit?"] !== "ok").length,
    };
  });
}
