import { readFileSync } from "node:fs";

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
