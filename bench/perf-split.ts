/**
 * Splits a server's CPU during a connect storm by what did it — V8's
 * optimising compiler, its garbage collector, the kernel (the sockets'
 * system calls), and the program itself (JavaScript, Node's and libraries'
 * native code) — on the main thread and on V8's helper threads, from a
 * system-wide `perf` recording. `--cpu-prof` sees only the main thread's
 * JavaScript; the bench's figure is the whole process's CPU (docs/performance.md §55).
 *
 *   perf record -a -g -F 999 -o /tmp/storm.data -- env FLEETPLANE_BENCH_NODE_ARGS=--perf-basic-prof \
 *     pnpm bench storm --storm-agents 6000
 *   perf script -i /tmp/storm.data -F pid,tid,time,ip,sym,dso | npx tsx bench/perf-split.ts PID 999
 *
 * PID is the server's (the one /tmp/perf-PID.map was written for); 999 the
 * sampling rate given to perf (-F). The storm's window is taken from the
 * main thread's samples that are inside the gateway's new-agent path (its
 * upgrade or its first reply), first to last; only samples in it count.
 */
import { createInterface } from "node:readline";

const [pidArg, hzArg] = process.argv.slice(2);
if (!pidArg || !hzArg) {
  process.stderr.write("usage: perf script -F pid,tid,time,ip,sym,dso | tsx bench/perf-split.ts SERVER_PID SAMPLING_HZ\n");
  process.exit(2);
}
const hz = Number(hzArg);

/** Frames of V8's collector (main-thread pauses, parallel and concurrent work alike). */
const GC = /ConcurrentMarking|Scavenge|MarkCompact|Sweeper|v8::internal::Heap::|IncrementalMarking|MinorMark|GCTracer|Evacuat|ArrayBufferSweeper|MemoryAllocator|MemoryReducer/;
/** Frames of V8's compilers and JavaScript parser (not Node's HTTP parser, which is the program's). */
const COMPILE = /v8::internal::compiler::|v8::internal::Compiler::|v8::internal::maglev|turboshaft|BaselineBatchCompiler|v8::internal::(Pre)?Parser|v8::internal::parsing::|OptimizingCompileDispatcher/;
/** The new-agent path on the main thread: marks the storm's window. */
const MARK = /completeUpgrade|answerOnWebSocket|onUpgrade/;

interface Sample {
  main: boolean;
  time: number;
  frames: string[];
}
const samples: Sample[] = [];
let current: Sample | undefined;
for await (const line of createInterface({ input: process.stdin })) {
  if (line.startsWith("\t")) {
    current?.frames.push(line.trim());
    continue;
  }
  if (current) samples.push(current);
  current = undefined;
  const [ids, time] = line.trim().split(/\s+/);
  const [pid, tid] = (ids ?? "").split("/");
  if (pid === pidArg && time) current = { main: tid === pidArg, time: Number(time.replace(/:$/, "")), frames: [] };
}
if (current) samples.push(current);

const marks = samples.filter((s) => s.main && s.frames.some((f) => MARK.test(f))).map((s) => s.time);
if (marks.length === 0) {
  process.stderr.write(`no sample of process ${pidArg} is in the new-agent path: is it the server's pid, and was it started with --perf-basic-prof?\n`);
  process.exit(1);
}
const from = Math.min(...marks);
const to = Math.max(...marks);

const category = (frames: string[]) => {
  if (frames.some((f) => GC.test(f))) return "collector";
  if (frames.some((f) => COMPILE.test(f))) return "compiler";
  if (frames[0]?.includes("[kernel.kallsyms]")) return "kernel";
  return "program";
};
const seconds = new Map<string, number>();
for (const s of samples) {
  if (s.time < from || s.time > to) continue;
  const k = `${s.main ? "main" : "helpers"} ${category(s.frames)}`;
  seconds.set(k, (seconds.get(k) ?? 0) + 1 / hz);
}
const total = [...seconds.values()].reduce((a, b) => a + b, 0);
process.stdout.write(`window ${(to - from).toFixed(2)} s (first to last sample in the new-agent path), ${total.toFixed(3)} s of the server's CPU in it\n`);
for (const k of ["main program", "main kernel", "main collector", "main compiler", "helpers compiler", "helpers collector", "helpers kernel", "helpers program"]) {
  const s = seconds.get(k) ?? 0;
  process.stdout.write(`  ${k.padEnd(18)} ${s.toFixed(3).padStart(7)} s  ${((100 * s) / total).toFixed(1).padStart(5)} %\n`);
}
