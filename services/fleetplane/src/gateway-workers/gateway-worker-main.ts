// One gateway worker (see gateway-workers.ts): a whole opamp-gateway on the
// port the cluster primary shares, reporting to agent-service's internal
// listener with the service token, receiving pushes from NATS or from the
// primary over its IPC channel. Started and stopped by the primary only.
import { createClient } from "@connectrpc/connect";
import { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import { startGateway, gatewaySettings, type Gateway } from "@fleetplane/opamp-gateway";
import { createLogger, processMetrics } from "@fleetplane/platform-node";
import type { PushBus } from "@fleetplane/platform";
import { internalTransport } from "../internal-transport.js";
import { choosePushBus } from "../push-bus-choice.js";
import type { FromGatewayWorker, GatewayWorkerSpec, ToGatewayWorker } from "./gateway-workers.js";
import { createWorkerChannelPushBus } from "./worker-channel-push-bus.js";
import { boundedStop, orphaned } from "./worker-stop.js";
import { limitHeapGrowth } from "../heap-growth.js";

// Before anything is allocated: a worker holds sockets and little else (heap-growth.ts).
limitHeapGrowth();

const send = (m: FromGatewayWorker) => process.send?.(m);
// Only the gateway's modules are loaded (not the services'): a worker's own
// memory is paid once per worker.
let running: { gateway: Gateway; bus: PushBus } | undefined;

/** A stop that cannot finish within this ends the process anyway (worker-stop.ts). */
// Longer than a graceful stop takes (5 s for sockets, 10 s for cleanups, 5 s for the lease), shorter than the primary waits before SIGKILL (30 s).
const STOP_DEADLINE_MS = 25_000;
/** How often an orphan is looked for, in case the channel's "disconnect" was missed. */
const ORPHAN_CHECK_MS = 2_000;
const parentPid = process.ppid;

const stop = boundedStop({
  work: async () => {
    await running?.gateway.close();
    await running?.bus.close();
    if (process.connected) send({ kind: "stopped" });
  },
  deadlineMs: STOP_DEADLINE_MS,
  exit: (code) => process.exit(code),
  onOverdue: () => console.error(`gateway worker ${process.pid}: stop did not finish within ${STOP_DEADLINE_MS / 1000} s; exiting`),
});

// Signals to the process group (Ctrl-C, a container stop) reach the workers
// too, but the order of a shutdown is the primary's: workers first (closing
// sockets, marking agents disconnected in agent-service), then the rest.
// A worker whose primary is gone has no one to order it: a signal stops it.
const onSignal = () => {
  if (orphaned(process, parentPid)) void stop();
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

// The primary is gone (killed): nobody will say stop, so stop now.
process.on("disconnect", () => void stop());
setInterval(() => {
  if (orphaned(process, parentPid)) void stop();
}, ORPHAN_CHECK_MS).unref();

process.on("message", (m: ToGatewayWorker) => {
  if (m.kind === "start") void start(m.spec);
  else if (m.kind === "stop") void stop();
  else if (m.kind === "metrics") void processMetrics().then((metrics) => send({ kind: "metrics", id: m.id, metrics }));
});
send({ kind: "ready" });

async function start(spec: GatewayWorkerSpec): Promise<void> {
  const logger = createLogger("opamp-gateway", spec.logLevel);
  try {
    const bus = spec.natsUrl ? await choosePushBus({ natsUrl: spec.natsUrl, name: `gateway-${spec.gatewayId}`, logger }) : createWorkerChannelPushBus(process);
    const gateway = await startGateway({
      ...gatewaySettings(spec.settings),
      gatewayId: spec.gatewayId,
      host: spec.host,
      port: spec.port,
      agentService: createClient(AgentGatewayService, internalTransport(spec.agentServiceUrl, spec.internal)),
      bus,
      logger,
      tls: spec.tls,
    });
    running = { gateway, bus };
    send({ kind: "listening", port: gateway.port });
  } catch (err) {
    send({ kind: "failed", error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
}
