import { startStandaloneServer, type ServerUnderTest } from "./fleetplane-server.js";
import { startOpampGoServer } from "./peers.js";
import { round, type Row } from "./report.js";
import { connectStorm, steadyState } from "./scenarios.js";

/**
 * 6. A/B on a shared machine: the connect storm and the steady state against
 * another build of Fleetplane (a checkout given by --ab-base, e.g. a `git
 * worktree` of the branch point), this build, and the Go peer, alternated
 * round by round with a fresh server each time. Throughput moves with
 * whatever else runs on the machine, so the figure compared is the server's
 * CPU per operation: per new agent in the storm, per report in steady state.
 */
export async function runAb(o: { base: string; rounds: number; stormAgents: number; steadyAgents: number; steadySeconds: number; paired?: boolean; report: (scenario: string, title: string, rows: Row[]) => void }) {
  const targets: Array<{ label: string; start: () => Promise<ServerUnderTest> }> = [
    { label: "A (base)", start: () => startStandaloneServer({ checkout: o.base, name: "fleetplane A (base)" }) },
    { label: "B (this build)", start: () => startStandaloneServer({ name: "fleetplane B (this build)" }) },
    { label: "Go peer", start: startOpampGoServer },
  ];
  const rows: Row[] = [];
  for (let round_ = 1; round_ <= o.rounds; round_++) {
    // Alternate the order, so neither build always runs right after the other.
    const order = round_ % 2 === 1 ? targets : [targets[1]!, targets[0]!, targets[2]!];
    // --ab-paired: A and B run each scenario at the same time (own
    // simulators), so both meet the same load from the rest of the machine;
    // the Go peer runs alone after them.
    const together = o.paired ? await runTogether(order.slice(0, 2), o) : new Map<string, { storm: Row; steady: Row }>();
    for (const t of order) {
      const done = together.get(t.label);
      const storm = done?.storm ?? (await fresh(t.start, (s) => connectStorm(s, o.stormAgents)));
      // --steady-seconds 0: the storm alone (a change that touches only new agents).
      const steady = done?.steady ?? (o.steadySeconds > 0 ? await fresh(t.start, (s) => steadyState(s, o.steadyAgents, o.steadySeconds)) : NO_STEADY);
      const stormCpuS = Number(storm["server cpu s"]);
      const cores = Number(steady["server cores busy"]);
      const perSecond = Number(steady["reports/s"]);
      rows.push({
        round: round_,
        server: t.label,
        "storm agents/s": storm["agents/s"]!,
        "storm errors": storm.errors!,
        "µs cpu per new agent": round((stormCpuS * 1e6) / Number(storm.answered), 0),
        "steady reports/s": perSecond,
        "steady errors": steady.errors!,
        "cores busy": cores,
        "µs cpu per report": round((cores * 1e6) / perSecond, 1),
        "reports per core-s": Math.round(perSecond / cores),
      });
      process.stderr.write(`  ab round ${round_} ${t.label}: ${JSON.stringify(rows.at(-1))}\n`);
    }
  }
  o.report("ab", `A/B: ${o.base} (A) vs this build (B), Go peer as yardstick`, rows);
  const mean = (label: string, col: string) => {
    const xs = rows.filter((r) => r.server === label).map((r) => Number(r[col]));
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const summary = targets.map(({ label }) => ({
    server: label,
    "µs cpu per new agent (mean)": round(mean(label, "µs cpu per new agent"), 0),
    "× Go peer": round(mean(label, "µs cpu per new agent") / mean("Go peer", "µs cpu per new agent"), 2),
    "µs cpu per report (mean)": round(mean(label, "µs cpu per report"), 1),
    "reports per core-s / Go peer's": round(mean("Go peer", "µs cpu per report") / mean(label, "µs cpu per report"), 2),
  }));
  o.report("ab-summary", "A/B means (CPU per operation; × Go peer: lower is better; per core-s / Go: higher is better)", summary);
}

const NO_STEADY: Row = { "server cores busy": NaN, "reports/s": NaN, errors: "—" };

/** Each scenario on both targets at once, a fresh server each. */
async function runTogether(targets: Array<{ label: string; start: () => Promise<ServerUnderTest> }>, o: { stormAgents: number; steadyAgents: number; steadySeconds: number }): Promise<Map<string, { storm: Row; steady: Row }>> {
  const storms = await bothFresh(targets, (s) => connectStorm(s, o.stormAgents));
  const steadies = o.steadySeconds > 0 ? await bothFresh(targets, (s) => steadyState(s, o.steadyAgents, o.steadySeconds)) : targets.map(() => NO_STEADY);
  return new Map(targets.map((t, i) => [t.label, { storm: storms[i]!, steady: steadies[i]! }]));
}

async function bothFresh(targets: Array<{ start: () => Promise<ServerUnderTest> }>, body: (s: ServerUnderTest) => Promise<Row>): Promise<Row[]> {
  const servers = await Promise.all(targets.map((t) => t.start()));
  try {
    return await Promise.all(servers.map(body));
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

async function fresh<T>(start: () => Promise<ServerUnderTest>, body: (s: ServerUnderTest) => Promise<T>): Promise<T> {
  const server = await start();
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}
