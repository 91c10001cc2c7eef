/**
 * Sums a `node --cpu-prof` profile by function, the way the figures in
 * docs/performance.md were read:
 *
 *   pnpm exec tsx bench/profile-summary.ts PROFILE.cpuprofile [top=40] [self|total|callers:NAME]
 *
 * self (default): each function's own time; total: time with everything it
 * called (counted once per sample, so recursion is not double counted);
 * callers:NAME: which stacks lead to functions whose name contains NAME
 * (PROFILE_DEPTH frames of each, default 8);
 * callees:NAME: where the time under the outermost function whose name
 * contains NAME goes, by the function it called (its own time as "(self)");
 * packages: self time by npm package, source file or Node internal module
 * (how much is ours, protobuf-es, lmdb, ws, Node); entries:TEXT: the time
 * spent in frames whose location contains TEXT (a package, a file), by the
 * outermost such frame and its caller (who asks for that work).
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, topArg, modeArg = "self"] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: tsx bench/profile-summary.ts PROFILE.cpuprofile [top]\n");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
// Self time per node from the sample stream (each sample's delta belongs to
// it). PROFILE_WINDOW="from,to" (seconds since the profile started) keeps
// only that part, e.g. the scenario without start-up and shutdown; the
// per-second timeline on stderr shows where the busy part is.
const [from, to] = (process.env.PROFILE_WINDOW ?? "0,1e9").split(",").map(Number) as [number, number];
const selfUs = new Map<number, number>();
const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
const busyPerSecond: number[] = [];
let t = 0;
profile.samples.forEach((id, i) => {
  const us = profile.timeDeltas[i + 1] ?? 0;
  t += profile.timeDeltas[i] ?? 0;
  const second = Math.floor(t / 1e6);
  if (!idleIds.has(id)) busyPerSecond[second] = (busyPerSecond[second] ?? 0) + us;
  if (t / 1e6 >= from && t / 1e6 < to) selfUs.set(id, (selfUs.get(id) ?? 0) + us);
});
process.stderr.write(`busy ms per second: ${Array.from(busyPerSecond, (us, s) => `${s}:${Math.round((us ?? 0) / 1000)}`).join(" ")}\n`);
const nameOf = (id: number) => {
  const f = byId.get(id)!.callFrame;
  const where = f.url ? `${f.url.replace(/^file:\/\//, "").replace(/.*node_modules\/\.pnpm\/([^/]+)\/node_modules\//, "$1:").replace(/.*\/wt-[^/]+\//, "")}:${f.lineNumber + 1}` : "";
  return `${f.functionName || "(anonymous)"} ${where}`.trim();
};
/** The npm package (name@version), our source file, or Node's module a frame is in; native frames by their name. */
const packageOf = (url: string, functionName: string) => {
  if (!url) return functionName || "(native)";
  const pkg = /node_modules\/\.pnpm\/([^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return url.split("/").slice(0, 3).join("/");
  return url.replace(/^file:\/\//, "").replace(/.*\/wt-[^/]+\//, "");
};
const parent = new Map<number, number>();
for (const n of profile.nodes as Array<ProfileNode & { children?: number[] }>) for (const c of n.children ?? []) parent.set(c, n.id);
const byFunction = new Map<string, number>();
let total = 0;
for (const [id, us] of selfUs) {
  total += us;
  if (modeArg === "self" || nameOf(id).startsWith("(idle)")) {
    byFunction.set(nameOf(id), (byFunction.get(nameOf(id)) ?? 0) + us);
    continue;
  }
  // Walk the stack once per distinct sampled node.
  const stack: string[] = [];
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) stack.push(nameOf(at));
  if (modeArg === "total") {
    for (const k of new Set(stack)) byFunction.set(k, (byFunction.get(k) ?? 0) + us);
  } else if (modeArg === "packages") {
    const f = byId.get(id)!.callFrame;
    byFunction.set(packageOf(f.url, f.functionName), (byFunction.get(packageOf(f.url, f.functionName)) ?? 0) + us);
  } else if (modeArg.startsWith("callees:")) {
    // The outermost frame matching NAME, and the frame it called on the way to this sample.
    const i = stack.findLastIndex((k) => k.split(" ")[0]!.includes(modeArg.slice(8)));
    if (i >= 0) {
      const k = i === 0 ? `${stack[0]} (self)` : stack[i - 1]!;
      byFunction.set(k, (byFunction.get(k) ?? 0) + us);
    }
  } else if (modeArg.startsWith("entries:")) {
    const text = modeArg.slice(8);
    if (nameOf(id).includes(text)) {
      let i = 0;
      while (i + 1 < stack.length && stack[i + 1]!.includes(text)) i++;
      const k = `${stack[i]} < ${stack[i + 1] ?? "(root)"}`;
      byFunction.set(k, (byFunction.get(k) ?? 0) + us);
    }
  } else if (modeArg.startsWith("callers:")) {
    const i = stack.findIndex((k) => k.includes(modeArg.slice(8)));
    if (i >= 0) {
      const k = stack.slice(i, i + Number(process.env.PROFILE_DEPTH ?? 8)).map((s) => (process.env.PROFILE_FULL ? s.replace(/:\d+$/, "") : s.split(" ")[0])).join(" < ");
      byFunction.set(k, (byFunction.get(k) ?? 0) + us);
    }
  }
}
const idle = [...byFunction].filter(([k]) => k.startsWith("(idle)")).reduce((n, [, us]) => n + us, 0);
const busy = total - idle;
process.stdout.write(`profile ${(total / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s (shares below are of busy time)\n`);
const top = Number(topArg ?? 40);
for (const [k, us] of [...byFunction].filter(([k]) => !k.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(0, top)) {
  process.stdout.write(`${((100 * us) / busy).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}\n`);
}
