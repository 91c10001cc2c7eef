import type { ServerUnderTest } from "./fleetplane-server.js";
import { round, type Row } from "./report.js";
import { connectStorm } from "./scenarios.js";

/**
 * A connect storm's CPU per new agent, at the margin.
 *
 * A server's CPU in a storm is a part that grows with the storm and a part
 * that does not: a fresh Node process compiles its hot paths and grows its
 * heap from start-up size while the storm runs (~1.4 s of CPU here, whatever
 * the storm's size), a Go process has far less of that. Dividing the whole by
 * N bills that fixed part to every agent, so the average flatters a server
 * without a warm-up and shrinks with the storm's size. The marginal figure
 * does not:
 *
 *   C(N)   server CPU (user + system of all its processes, /proc, 10 ms ticks)
 *          from just before the simulator starts until all N are answered,
 *          on a FRESH server; N is the number of agents answered
 *   m      = (C(N2) − C(N1)) / (N2 − N1)     marginal CPU per new agent
 *   a      = C(N2) / N2                       average CPU per new agent
 *   F      = C(N1) − m·N1                      the fixed part (warm-up), per server
 *   ratio  = m(server) / m(peer), of the means over the rounds
 *
 * Why two fresh servers and not one server with two storms back to back: a
 * deploy's storm meets a fresh process, and two fresh processes pay the same
 * warm-up — JIT and heap growth for Node, runtime and heap growth for Go — so
 * it cancels in the difference for every server alike, whatever it is. A
 * second storm on the same process would be measured on code compiled and a
 * heap grown by the first, beside (or just after closing) the first storm's
 * agents, whose closing is work that lands on one side or the other. The price
 * is noise: m is a difference of two readings, so the sizes should be far
 * apart (2×) and the rounds several.
 */
export type StormAtSize = { agents: number; cpuS: number };

export type Margin = { n1: number; n2: number; marginalUs: number; averageUs: number; fixedS: number };

/** m, a and F (above) from the two storms of one round; undefined if the sizes do not differ. */
export function marginalCost(small: StormAtSize, large: StormAtSize): Margin | undefined {
  const [s, l] = small.agents <= large.agents ? [small, large] : [large, small];
  if (!(l.agents > s.agents) || !Number.isFinite(s.cpuS) || !Number.isFinite(l.cpuS)) return undefined;
  const marginal = (l.cpuS - s.cpuS) / (l.agents - s.agents);
  return { n1: s.agents, n2: l.agents, marginalUs: marginal * 1e6, averageUs: (l.cpuS / l.agents) * 1e6, fixedS: s.cpuS - marginal * s.agents };
}

/** The storm sizes to run: one (--storm-agents, e.g. for a profile) or two (--storm-sizes) for the marginal figure. */
export function stormSizes(stormAgents: string | undefined, sizes: string): number[] {
  const list = stormAgents !== undefined ? [Number(stormAgents)] : sizes.split(",").map((x) => Number(x.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1)) throw new StormSizeError(`${stormAgents !== undefined ? "--storm-agents" : "--storm-sizes"}: expected whole numbers of at least 1, got "${stormAgents ?? sizes}"`);
  if (stormAgents === undefined && (list.length !== 2 || list[0] === list[1])) throw new StormSizeError(`--storm-sizes: expected two different sizes, e.g. 3000,6000, got "${sizes}"`);
  return list;
}

export class StormSizeError extends Error {}

/**
 * One round of storms against one server: each size on a fresh server (the
 * sizes' order alternates with the round, so neither size always runs first),
 * and the round's marginal row when there were two sizes.
 */
export async function stormsAtSizes(start: () => Promise<ServerUnderTest>, sizes: number[], round_: number, tag: Row = {}): Promise<{ storms: Row[]; margin?: Row }> {
  const order = round_ % 2 === 1 ? sizes : [...sizes].reverse();
  const storms: Row[] = [];
  for (const agents of order) {
    const server = await start();
    try {
      storms.push({ ...tag, ...(await connectStorm(server, agents)) });
    } finally {
      await server.stop();
    }
  }
  storms.sort((a, b) => Number(a.agents) - Number(b.agents));
  if (storms.length !== 2) return { storms };
  const [s, l] = storms.map((r) => ({ agents: Number(r.answered), cpuS: Number(r["server cpu s"]), asked: Number(r.agents), errors: Number(r.errors) }));
  const m = marginalCost(s!, l!);
  const complete = s!.agents === s!.asked && l!.agents === l!.asked;
  return {
    storms,
    margin: {
      ...tag,
      server: String(storms[0]!.server),
      "N1 → N2": `${s!.agents} → ${l!.agents}`,
      "server cpu s": `${s!.cpuS} → ${l!.cpuS}`,
      "marginal µs per new agent": m ? round(m.marginalUs, 0) : "n/a",
      "average µs per new agent (N2)": m ? round(m.averageUs, 0) : "n/a",
      "fixed s": m ? round(m.fixedS, 2) : "n/a",
      complete: complete && s!.errors + l!.errors === 0 ? "yes" : "NO: unanswered or errors",
      "load avg": `${storms[0]!["load avg"]} · ${storms[1]!["load avg"]}`,
    },
  };
}

/**
 * Per server: the means over the rounds of the marginal and average CPU per
 * new agent and of the fixed part, with the marginal's ratio to every other
 * server's (lower is better) — the figure issue 16's storm target is about.
 */
export function marginSummary(names: string[], margins: Row[]): Row[] {
  const mean = (name: string, col: string) => {
    const xs = margins.filter((r) => r.peer === name).map((r) => Number(r[col])).filter(Number.isFinite);
    return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const range = (name: string, col: string) => {
    const xs = margins.filter((r) => r.peer === name).map((r) => Number(r[col])).filter(Number.isFinite);
    return xs.length === 0 ? "n/a" : `${Math.min(...xs)}–${Math.max(...xs)}`;
  };
  return names.map((name) => {
    const m = mean(name, "marginal µs per new agent");
    const row: Row = {
      peer: name,
      rounds: margins.filter((r) => r.peer === name).length,
      "marginal µs per new agent (mean)": Number.isFinite(m) ? round(m, 0) : "n/a",
      "(range)": range(name, "marginal µs per new agent"),
      "average µs (N2, mean)": Number.isFinite(mean(name, "average µs per new agent (N2)")) ? round(mean(name, "average µs per new agent (N2)"), 0) : "n/a",
      "fixed s (mean)": Number.isFinite(mean(name, "fixed s")) ? round(mean(name, "fixed s"), 2) : "n/a",
    };
    for (const other of names) {
      if (other === name) continue;
      const o = mean(other, "marginal µs per new agent");
      row[`marginal × ${other}`] = Number.isFinite(m) && Number.isFinite(o) && o > 0 ? round(m / o, 2) : "n/a";
    }
    row["load avg (each storm)"] = margins.filter((r) => r.peer === name).map((r) => r["load avg"]).join(" · ");
    return row;
  });
}
