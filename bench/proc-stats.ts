import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU time (user + system, ms) and resident memory (bytes) of a process, from /proc. */
export function processStats(pid: number): { cpuMs: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return { cpuMs: (ticks * 1000) / TICKS_PER_SECOND, rssBytes: rssKb * 1024 };
}

/** Sums the stats of several processes (a distributed deployment). */
export function totalStats(pids: number[]): { cpuMs: number; rssBytes: number } {
  return pids.map(processStats).reduce((a, b) => ({ cpuMs: a.cpuMs + b.cpuMs, rssBytes: a.rssBytes + b.rssBytes }), { cpuMs: 0, rssBytes: 0 });
}

/**
 * A process's resident memory from /proc/PID/smaps_rollup (KiB): all of it,
 * the anonymous part (heap, malloc arenas, stacks) and the file-backed rest
 * (the node binary's code, a mapped store file), and its proportional set
 * size — its RSS with each page shared with other processes (the node
 * binary's code, mapped by every server process) counted as its share.
 */
export function smapsRollup(pid: number): { rssKiB: number; anonKiB: number; fileKiB: number; pssKiB: number } {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const f = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(t)?.[1] ?? 0);
  return { rssKiB: f("Rss"), anonKiB: f("Anonymous"), fileKiB: f("Rss") - f("Anonymous"), pssKiB: f("Pss") };
}

/**
 * Proportional set size (bytes) of a process (smapsRollup). Summed over a
 * deployment's processes it is the memory they take together, where summed
 * RSS counts shared pages once per process.
 */
export function pssBytes(pid: number): number {
  return smapsRollup(pid).pssKiB * 1024;
}

/**
 * CPU time (user + system, ms) of the store's server processes on this
 * machine — every process named `postgres` or starting `ferretdb` (FerretDB
 * on PostgreSQL, run apart from the bench: --mongo-url), plus what the
 * postmaster's reaped children used (a backend that exited during the run).
 * Read before and after a run, the difference is what the store spent on
 * it, and on whatever else used it meanwhile (the bench runs under the
 * heavy-run lock).
 */
export function storeServerCpuMs(): number {
  const procs: Array<{ pid: number; ppid: number; name: string; fields: string[] }> = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    if (name !== "postgres" && !name.startsWith("ferretdb")) continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    procs.push({ pid: Number(entry), ppid: Number(fields[1]), name, fields });
  }
  const postgres = new Set(procs.filter((p) => p.name === "postgres").map((p) => p.pid));
  let ticks = 0;
  for (const p of procs) {
    ticks += Number(p.fields[11]) + Number(p.fields[12]); // utime, stime
    if (p.name === "postgres" && !postgres.has(p.ppid)) ticks += Number(p.fields[13]) + Number(p.fields[14]); // the postmaster: cutime, cstime
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}
