/**
 * The server side of a micro-benchmark's CPU figure: in the child process
 * that serves, answers the parent's `{ cmd: "start" }` and `{ cmd: "stop" }`
 * with `{ cpuUs, answered }` — the process's own CPU (user + system) between
 * the two and how far `count` moved — so the clients' share of the machine
 * does not count. `exitAfterStop` ends the child once the figure is sent.
 * Used by reply-write-micro.ts and ws-socket-micro.ts.
 */
export function reportCpuOnRequest(count: () => number, exitAfterStop: boolean): void {
  let start = process.cpuUsage();
  let from = 0;
  process.on("message", (m: { cmd: string }) => {
    if (m.cmd === "start") {
      start = process.cpuUsage();
      from = count();
    } else if (m.cmd === "stop") {
      const used = process.cpuUsage(start);
      process.send!({ cpuUs: used.user + used.system, answered: count() - from }, () => (exitAfterStop ? process.exit(0) : undefined));
    }
  });
}
