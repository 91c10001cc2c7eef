import type { ServerUnderTest } from "./fleetplane-server.js";
import type { PeerStart } from "./peer-servers.js";
import { type Row } from "./report.js";
import { idleHold, steadyState } from "./scenarios.js";
import { marginSummary, stormsAtSizes } from "./storm-margin.js";

/**
 * 5. The same scenarios, the same simulator, against every peer, one server
 * at a time and a fresh server for each run. Rounds interleave the servers
 * (round 1: each server once, then round 2, …) so that whatever else the
 * machine does drifts over all of them alike; each row carries its run's
 * load average. The per-core figures are what compare: server CPU per new
 * agent in a storm, reports per server core-second in steady state.
 * The storm runs at each of `stormSizes` on a fresh server; with two sizes
 * it reports the marginal CPU per new agent (storm-margin.ts), so a server's
 * fixed warm-up is not billed per agent. (Push fan-out needs Fleetplane's admin API, so it has no peer figure.)
 */
export async function runPeers(o: {
  peers: Array<{ name: string; start: PeerStart }>;
  rounds: number;
  stormSizes: number[];
  /** Which of storm, steady, idle to run (default all three). */
  scenarios?: string[];
  steadyAgents: number;
  steadySeconds: number;
  idleAgents: number;
  report: (scenario: string, title: string, rows: Row[]) => void;
}) {
  const storm: Row[] = [];
  const margins: Row[] = [];
  const steady: Row[] = [];
  const idle: Row[] = [];
  const scenarios: Array<[string, (s: ServerUnderTest, tag: Row) => Promise<void>]> = [
    ["steady", async (s, tag) => void steady.push({ ...tag, ...(await steadyState(s, o.steadyAgents, o.steadySeconds)) })],
    ["idle", async (s, tag) => void idle.push(...(await idleHold(s, [o.idleAgents])).map((r) => ({ ...tag, ...r })))],
  ];
  const wanted = new Set(o.scenarios ?? ["storm", "steady", "idle"]);
  for (let round = 1; round <= o.rounds; round++) {
    if (wanted.has("storm")) {
      for (const peer of o.peers) {
        process.stderr.write(`\n-- round ${round}/${o.rounds}: storm (${o.stormSizes.join(", ")} agents, a fresh server each) against ${peer.name}\n`);
        try {
          const done = await stormsAtSizes(peer.start, o.stormSizes, round, { round, peer: peer.name });
          storm.push(...done.storms);
          if (done.margin) margins.push(done.margin);
        } catch (err) {
          process.stderr.write(`  storm against ${peer.name} failed: ${(err as Error).message}\n`);
        }
      }
    }
    for (const [what, run] of scenarios) {
      if (!wanted.has(what)) continue;
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
  if (margins.length > 0) {
    o.report("peers-storm-margin", "Connect storm at two sizes, a fresh server each: marginal CPU per new agent = ΔCPU / Δagents", margins);
    o.report("peers-storm-margin-summary", "Marginal CPU per new agent, means over the rounds (× other server: lower is better)", marginSummary(o.peers.map((p) => p.name), margins));
  }
  o.report("peers-steady", "Steady state, side by side (reports per server core-second is the per-core figure)", steady);
  o.report("peers-idle", "Idle hold, side by side", idle);
  o.report("peers-summary", "Per server: range over the rounds", summarize(o.peers.map((p) => p.name), storm, margins, steady, idle));
}

/** One row per peer: min–max of the per-core figures over the rounds, and the load averages seen. */
function summarize(names: string[], storm: Row[], margins: Row[], steady: Row[], idle: Row[]): Row[] {
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
      "storm: marginal CPU µs per new agent": range(margins.filter((r) => r.peer === name), "marginal µs per new agent"),
      "storm: average CPU µs per new agent": range(st, "server cpu µs per agent"),
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
