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

/**
 * Proportional set size (bytes) of a process: its RSS with each page shared
 * with other processes (the node binary's code, mapped by every server
 * process) counted as its share. Summed over a deployment's processes it is
 * the memory they take together, where summed RSS counts shared pages once
 * per process.
 */
export function pssBytes(pid: number): number {
  return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0) * 1024;
}
