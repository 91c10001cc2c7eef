// One simulator process of a ProcessFleet: runs a Fleet of the agents it is
// given and answers its parent's questions over the IPC channel.
import { Fleet } from "./fleet.js";
import type { FleetProcessReport, FromFleetProcess, ToFleetProcess } from "./process-fleet.js";

let fleet: Fleet | undefined;
const send = (m: FromFleetProcess) => process.send?.(m);

// The parent owns this process: when its channel closes, stop.
process.on("disconnect", () => process.exit(0));
// Ctrl-C in a terminal reaches the whole process group; the parent decides.
process.on("SIGINT", () => {});

process.on("message", (m: ToFleetProcess) => {
  switch (m.kind) {
    case "start": {
      const f = new Fleet(m.options);
      fleet = f;
      void f.start().then(() => send({ kind: "started" }));
      // Said the moment it happens (not on the next report): the parent times a connect storm by it.
      void f.whenFirstReplies(m.options.agents, 2 ** 31 - 1).then(() => send({ kind: "all-answered" }));
      break;
    }
    case "report":
      send({ kind: "report", id: m.id, report: report(fleet) });
      break;
    case "reset-latency":
      fleet?.resetLatency();
      break;
    case "stop":
      fleet?.stop();
      process.exit(0);
  }
});

send({ kind: "ready" });

function report(f: Fleet | undefined): FleetProcessReport {
  const cpu = process.cpuUsage();
  const s = f?.stats;
  return {
    firstReplies: f?.firstReplies ?? 0,
    connected: s?.connected ?? 0,
    sent: s?.sent ?? 0,
    received: s?.received ?? 0,
    errorResponses: s?.errorResponses ?? 0,
    transportErrors: s?.transportErrors ?? 0,
    connectFailures: s?.connectFailures ?? 0,
    disconnects: s?.disconnects ?? 0,
    latency: (s?.latency ?? { toData: () => ({ counts: [], count: 0, sum: 0, max: 0 }) }).toData(),
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}
