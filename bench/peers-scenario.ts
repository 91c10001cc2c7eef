import { startStandaloneServer, type ServerUnderTest } from "./fleetplane-server.js";
import { startOpampGoServer } from "./peers.js";
import { round, type Row } from "./report.js";
import { connectStorm, idleHold, steadyState } from "./scenarios.js";

/**
 * 5. The same scenarios, the same simulator, against Fleetplane standalone
 * and the Go peer, one server at a time; then the ratio Fleetplane / peer.
 * (Push fan-out needs Fleetplane's admin API, so it has no peer figure.)
 */
export async function runPeers(o: { stormAgents: number; steadyAgents: number; steadySeconds: number; idleAgents: number; report: (scenario: string, title: string, rows: Row[]) => void }) {
  const storm: Row[] = [];
  const steady: Row[] = [];
  const idle: Row[] = [];
  const targets: Array<() => Promise<ServerUnderTest>> = [startStandaloneServer, startOpampGoServer];
  for (const start of targets) {
    for (const run of [
      async (s: ServerUnderTest) => storm.push(await connectStorm(s, o.stormAgents)),
      async (s: ServerUnderTest) => steady.push(await steadyState(s, o.steadyAgents, o.steadySeconds)),
      async (s: ServerUnderTest) => idle.push(...(await idleHold(s, [o.idleAgents]))),
    ]) {
      // A fresh server for each scenario, as in the other benchmarks.
      const server = await start();
      try {
        await run(server);
      } finally {
        await server.stop();
      }
    }
  }
  o.report("peers-storm", "Connect storm, side by side", storm);
  o.report("peers-steady", "Steady state, side by side", steady);
  o.report("peers-idle", "Idle hold, side by side", idle);
  const ratio = (rows: Row[], col: string) => (rows.length === 2 ? round(Number(rows[0]![col]) / Number(rows[1]![col]), 2) : "n/a");
  o.report("peers-ratio", "Fleetplane / opamp-go server (above 1: Fleetplane higher)", [
    {
      "storm agents/s": ratio(storm, "agents/s"),
      "steady reports/s": ratio(steady, "reports/s"),
      "steady p99 (lower is better)": ratio(steady, "p99 ms"),
      "server cores busy (lower is better)": ratio(steady, "server cores busy"),
      "idle KiB per agent (lower is better)": ratio(idle, "KiB per agent"),
    },
  ]);
}
