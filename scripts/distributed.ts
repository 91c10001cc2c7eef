/**
 * Starts the whole distributed topology on this machine, on free loopback
 * ports: a real nats-server, FerretDB (MongoDB wire protocol), command-service,
 * agent-service and two gateways, each its own process — the same launcher the
 * distributed tests use. Ctrl-C stops everything and removes the data.
 *
 *   pnpm distributed [--lease-seconds N] [--quiet]
 */
import { parseArgs } from "node:util";
import { startDistributed } from "../test/support/distributed.js";

const { values } = parseArgs({
  options: {
    "lease-seconds": { type: "string", default: "30" },
    quiet: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  process.stdout.write(`Usage: pnpm distributed [--lease-seconds N] [--quiet]

Builds (once) and starts nats-server and FerretDB, then command-service,
agent-service and two gateways as separate processes on free loopback ports.
Logs of every process are shown prefixed with its name unless --quiet.
Ctrl-C stops everything; the FerretDB data directory is removed.
`);
  process.exit(0);
}

process.stderr.write("starting nats-server, FerretDB and the four Fleetplane processes (first run builds the Go tools: minutes)...\n");
const d = await startDistributed({ leaseSeconds: Number(values["lease-seconds"]), logs: !values.quiet });
process.stdout.write(`
Fleetplane, distributed
  OpAMP gateway gw-a:  ${d.wsUrlOf(0)}   (also http:// POST)
  OpAMP gateway gw-b:  ${d.wsUrlOf(1)}
  agent-service API:   ${d.agentService.url}
  command-service API: ${d.commandService.url}
  NATS:                ${d.natsUrl}
  MongoDB (FerretDB):  ${d.mongoUrl}
  Admin key:           ${d.adminKey}
                       (send as authorization: Bearer <key>; made with fleetplane admin create-key)
Ctrl-C to stop.
`);
await new Promise<void>((resolve) => {
  process.once("SIGINT", () => resolve());
  process.once("SIGTERM", () => resolve());
});
process.stderr.write("stopping...\n");
await d.close();
process.exit(0);
