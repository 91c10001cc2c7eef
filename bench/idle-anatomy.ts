/**
 * Where an idle agent's memory goes: standalone (optionally with gateway
 * workers) holding N quiet WebSocket agents, each server process measured
 * before the agents and after them — RSS split by /proc/PID/smaps_rollup
 * (anonymous vs file-backed), and a V8 heap snapshot of each process
 * summarised by constructor: which objects, how many per agent, how many
 * bytes per agent. Figures for docs/performance.md §13, never pass/fail.
 *
 *   flock /tmp/fp-heavy.lock npx tsx bench/idle-anatomy.ts --agents 5000 [--workers 2] [--top 30] [--no-snapshot | --report | --keep-snapshots] [--checkout DIR] [--samples 5,20,40]
 *
 * (--keep-snapshots: for bench/heap-retainers.ts, which says who holds a kind of object.)
 */
import { readFileSync, rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { ProcessFleet } from "@fleetplane/simulator";
import { startStandaloneServer } from "./fleetplane-server.js";
import { summariseHeapSnapshot, type HeapSummary } from "./heap-summary.js";
import { SignalledFiles, type HeapReport } from "./process-heap-report.js";
import { smapsRollup } from "./proc-stats.js";

const { values } = parseArgs({
  options: {
    agents: { type: "string", default: "5000" },
    workers: { type: "string", default: "0" },
    top: { type: "string", default: "30" },
    "no-snapshot": { type: "boolean", default: false },
    report: { type: "boolean", default: false },
    checkout: { type: "string" },
    samples: { type: "string", default: "5" },
    "keep-snapshots": { type: "boolean", default: false },
  },
});
const agents = Number(values.agents);
const workers = Number(values.workers);
const top = Number(values.top);
// --report: Node's diagnostic report instead of a heap snapshot (cheap, and it leaves RSS as it was):
// V8's committed and used heap per space, external (ArrayBuffer) memory.
const reports = values.report;
const snapshots = !values["no-snapshot"] && !reports;

// On SIGUSR2 each server process writes a heap snapshot or a diagnostic report into files.dir.
const files = new SignalledFiles();
if (reports) process.env.FLEETPLANE_BENCH_NODE_ARGS = `${process.env.FLEETPLANE_BENCH_NODE_ARGS ?? ""} ${files.reportArgs()}`;
if (snapshots) process.env.FLEETPLANE_BENCH_NODE_ARGS = `${process.env.FLEETPLANE_BENCH_NODE_ARGS ?? ""} ${files.snapshotArgs()}`;

const smaps = smapsRollup;

async function snapshot(pid: number): Promise<HeapSummary | undefined> {
  if (!snapshots) return undefined;
  const file = await files.signal(pid, ".heapsnapshot");
  const s = summariseHeapSnapshot(readFileSync(file, "utf8"));
  if (values["keep-snapshots"]) process.stdout.write(`  (snapshot kept: ${file})\n`);
  else rmSync(file);
  return s;
}

async function report(pid: number): Promise<HeapReport | undefined> {
  return reports ? files.heapReport(pid) : undefined;
}

// --checkout DIR: another build of the project (e.g. a worktree of main), for before/after figures.
const server = await startStandaloneServer({ workers, ...(values.checkout ? { checkout: values.checkout, args: ["--max-connecting-agents", "0"] } : {}) });
try {
  const roles = new Map<number, string>(server.pids.map((p, i) => [p, i === 0 ? "primary" : `worker ${i}`]));
  await new Promise((r) => setTimeout(r, 3_000));
  const base = new Map<number, { mem: ReturnType<typeof smaps>; heap?: HeapSummary; report?: HeapReport }>();
  for (const pid of server.pids) base.set(pid, { mem: smaps(pid), heap: await snapshot(pid), report: await report(pid) });
  const fleet = new ProcessFleet({ url: server.opampWsUrl, transport: "ws", intervalMs: 30_000, jitter: 0.1, closedLoop: false, gzip: false, failMarker: "", rampPerSecond: 2_000, agents, processes: 2 });
  await fleet.start();
  await fleet.whenAllAnswered(300_000);
  // RSS (and with --report, V8's heap) of every process at each --samples second after the last agent
  // was answered: a flood's garbage stays in the heap until V8's memory reducer runs (it starts 8 s
  // after allocation slows down), so an early reading measures the flood, a later one the idle agents.
  const samples = values.samples.split(",").map(Number);
  const t0 = performance.now();
  for (const at of samples.slice(0, -1)) {
    await new Promise((r) => setTimeout(r, Math.max(0, at * 1000 - (performance.now() - t0))));
    for (const pid of server.pids) {
      const b = base.get(pid)!;
      const rep = await report(pid);
      const held = pid !== server.pids[0] && workers ? agents / workers : agents;
      const heap = rep && b.report ? `, V8 committed ${((rep.committed - b.report.committed) / 1024 / held).toFixed(2)}, used ${((rep.used - b.report.used) / 1024 / held).toFixed(2)}` : "";
      process.stdout.write(`  at ${at} s: ${roles.get(pid)} rss ${((smaps(pid).rssKiB - b.mem.rssKiB) / held).toFixed(2)} KiB per agent${heap}\n`);
    }
  }
  await new Promise((r) => setTimeout(r, Math.max(0, samples.at(-1)! * 1000 - (performance.now() - t0))));
  process.stdout.write(`  at ${samples.at(-1)} s:\n`);
  try {
    // Workers first: a snapshot stops its process for seconds, and a primary stopped first leaves the workers'
    // reports in flight (promises, HTTP/2 streams) when theirs are taken, counted as if sockets held them.
    for (const pid of [...server.pids.slice(1), server.pids[0]!]) {
      const b = base.get(pid)!;
      const mem = smaps(pid);
      const perAgent = (kib: number) => ((kib / agents) * (server.pids.length > 1 && pid !== server.pids[0] ? workers : 1)).toFixed(2);
      process.stdout.write(`\n== ${roles.get(pid)} (pid ${pid}) — KiB per agent${pid !== server.pids[0] && workers ? " it holds (agents / workers)" : ""}\n`);
      process.stdout.write(`  rss ${b.mem.rssKiB} → ${mem.rssKiB} KiB: ${perAgent(mem.rssKiB - b.mem.rssKiB)} per agent (anonymous ${perAgent(mem.anonKiB - b.mem.anonKiB)}, file ${perAgent(mem.fileKiB - b.mem.fileKiB)})\n`);
      const rep = await report(pid);
      if (rep && b.report) {
        const kib = (bytes: number) => perAgent(bytes / 1024);
        process.stdout.write(`  V8 heap committed ${kib(rep.committed - b.report.committed)}, used ${kib(rep.used - b.report.used)}; external (ArrayBuffers) ${kib(rep.external - b.report.external)}; V8 malloced ${kib(rep.malloced - b.report.malloced)}\n`);
        for (const [space, v] of rep.spaces) {
          const o = b.report.spaces.get(space) ?? { committed: 0, used: 0 };
          process.stdout.write(`    ${space.padEnd(26)} committed ${kib(v.committed - o.committed).padStart(7)}, used ${kib(v.used - o.used).padStart(7)}   (now ${(v.committed / 2 ** 20).toFixed(1)} MiB committed)\n`);
        }
      }
      const h = await snapshot(pid);
      if (h && b.heap) {
        const held = pid !== server.pids[0] && workers ? agents / workers : agents;
        process.stdout.write(`  V8 heap (live objects) ${(b.heap.totalBytes / 2 ** 20).toFixed(1)} → ${(h.totalBytes / 2 ** 20).toFixed(1)} MiB: ${((h.totalBytes - b.heap.totalBytes) / 1024 / held).toFixed(2)} KiB per agent\n`);
        const rows = [...h.byName.entries()].map(([name, v]) => {
          const o = b.heap!.byName.get(name) ?? { count: 0, bytes: 0 };
          return { name, count: (v.count - o.count) / held, bytes: (v.bytes - o.bytes) / held };
        });
        rows.sort((x, y) => y.bytes - x.bytes);
        for (const r of rows.slice(0, top)) process.stdout.write(`    ${r.bytes.toFixed(0).padStart(7)} B  ${r.count.toFixed(2).padStart(7)} ×  ${r.name}\n`);
      }
    }
  } finally {
    await fleet.stop();
  }
} finally {
  await server.stop();
  if (!values["keep-snapshots"]) files.dispose();
}
