/**
 * A new agent's main-thread cost at the margin, by function or by package:
 * two `--cpu-prof` profiles of fresh servers under storms of NA and NB
 * agents, each cut to its storm (first to last sample in the gateway's
 * new-agent path), and the difference per added agent — the profile's
 * counterpart of the bench's marginal figure, with a fresh process's fixed
 * warm-up cancelled (docs/performance.md §55).
 *
 *   FLEETPLANE_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof-3000" pnpm bench storm --storm-agents 3000
 *   (the same for 6000)
 *   npx tsx bench/profile-margin.ts /tmp/prof-3000/CPU.*.0.001.cpuprofile /tmp/prof-6000/CPU.*.0.001.cpuprofile 3000 6000 [self|packages|total]
 *
 * One pair of profiles moves by ±30–50 µs per agent here, as the bench's margin does: read it for ranking, run it twice.
 */
import { readFileSync } from "node:fs";
type N = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type P = { nodes: N[]; samples: number[]; timeDeltas: number[] };
const mode = process.argv[6] ?? "self";
if (process.argv.length < 6) {
  process.stderr.write("usage: tsx bench/profile-margin.ts A.cpuprofile B.cpuprofile NA NB [self|packages|total]\n");
  process.exit(2);
}
function load(f: string) {
  const p = JSON.parse(readFileSync(f, "utf8")) as P;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = (id: number) => { const s: N[] = []; for (let a: number | undefined = id; a !== undefined; a = parent.get(a)) s.push(byId.get(a)!); return s; };
  let t = 0; const times: number[] = [];
  p.samples.forEach((_, i) => { t += p.timeDeltas[i] ?? 0; times.push(t); });
  const mark = /^(completeUpgrade|answerOnWebSocket|onUpgrade)$/;
  const markIds = new Set(p.nodes.filter((n) => mark.test(n.callFrame.functionName)).map((n) => n.id));
  const inPath = new Map<number, boolean>();
  const isMarked = (id: number) => { if (inPath.has(id)) return inPath.get(id)!; const r = stackOf(id).some((n) => markIds.has(n.id)); inPath.set(id, r); return r; };
  let from = Infinity, to = -Infinity;
  p.samples.forEach((id, i) => { if (isMarked(id)) { from = Math.min(from, times[i]!); to = Math.max(to, times[i]!); } });
  const out = new Map<string, number>();
  p.samples.forEach((id, i) => {
    if (times[i]! < from || times[i]! > to) return;
    const n = byId.get(id)!; const f = n.callFrame;
    if (f.functionName === "(idle)") return;
    if (mode === "total") {
      // Each function on the stack once per sample: its time with what it called.
      for (const name of new Set(stackOf(id).map((x) => `${x.callFrame.functionName} ${x.callFrame.url.replace(/.*\/(services|node_modules)\//, "").replace(/^.*\.pnpm\//, "")}`))) out.set(name, (out.get(name) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
      return;
    }
    let k: string;
    if (mode === "packages") { const pkg = /node_modules\/\.pnpm\/([^/]+)\//.exec(f.url); k = pkg ? pkg[1]! : f.url ? (f.url.startsWith("node:") ? f.url.split("/").slice(0, 3).join("/") : f.url.replace(/.*\/wt-[^/]+\//, "")) : f.functionName; }
    else k = `${f.functionName} ${f.url.replace(/.*\/(services|node_modules)\//, "").replace(/^.*\.pnpm\//, "")}`;
    out.set(k, (out.get(k) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
  });
  return { out, window: (to - from) / 1e6 };
}
const [a, b] = [load(process.argv[2]!), load(process.argv[3]!)];
const dn = Number(process.argv[5]) - Number(process.argv[4]);
console.log(`windows ${a.window.toFixed(2)} s, ${b.window.toFixed(2)} s; µs per added agent (B−A)/${dn}`);
const keys = new Set([...a.out.keys(), ...b.out.keys()]);
const rows = [...keys].map((k) => [k, ((b.out.get(k) ?? 0) - (a.out.get(k) ?? 0)) / dn] as const).sort((x, y) => y[1] - x[1]);
// In total mode every function holds its callees' time too: the whole is (root)'s row, not the sum.
const tot = mode === "total" ? (rows.find(([k]) => k.startsWith("(root)"))?.[1] ?? 0) : rows.reduce((n, [, v]) => n + v, 0);
console.log(`total ${tot.toFixed(1)} µs`);
for (const [k, v] of rows.slice(0, 45)) console.log(`${v.toFixed(1).padStart(7)}  ${k}`);
