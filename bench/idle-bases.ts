/**
 * What the server's processes hold before their first agent: standalone with
 * N gateway workers (default 6, what 100,000 agents need here), each
 * process's RSS, anonymous memory and PSS read from /proc/PID/smaps_rollup
 * 10 s after start. With a checkout (a worktree of another build) that build
 * is measured instead, for a before/after (docs/performance.md §32).
 *
 *   flock /tmp/fp-heavy.lock npx tsx bench/idle-bases.ts [workers] [checkout]
 */
import { readFileSync } from "node:fs";
import { startStandaloneServer } from "./fleetplane-server.js";

const workers = Number(process.argv[2] ?? "6");
const checkout = process.argv[3];

function smaps(pid: number): { rss: number; anon: number; pss: number } {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const mib = (k: string) => Math.round(Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(t)?.[1] ?? 0) / 1024);
  return { rss: mib("Rss"), anon: mib("Anonymous"), pss: mib("Pss") };
}

const server = await startStandaloneServer({ workers, ...(checkout ? { checkout } : {}) });
try {
  await new Promise((r) => setTimeout(r, 10_000));
  const [primary, ...rest] = server.pids.map(smaps);
  const all = [primary!, ...rest];
  const sum = (k: "rss" | "pss") => all.reduce((a, r) => a + r[k], 0);
  process.stdout.write(
    `${checkout ?? "this build"}: primary RSS ${primary!.rss} MiB (anonymous ${primary!.anon}, PSS ${primary!.pss}); ` +
      `workers RSS ${rest.map((r) => r.rss).join(" · ")} (anonymous ${rest.map((r) => r.anon).join(" · ")}); ` +
      `all RSS ${sum("rss")} MiB, PSS ${sum("pss")} MiB\n`,
  );
} finally {
  await server.stop();
}
