// One gateway worker (see gateway-workers.ts): a whole opamp-gateway on the
// port the cluster primary shares, reporting to agent-service's internal
// listener with the service token, receiving pushes from NATS or from the
// primary over its IPC channel. Started and stopped by the primary only.
import { createLogger } from "@fleetplane/platform-node";
import { startGatewayAlone, type Running } from "../single-services.js";
import type { FromGatewayWorker, GatewayWorkerSpec, ToGatewayWorker } from "./gateway-workers.js";
import { createWorkerChannelPushBus } from "./worker-channel-push-bus.js";

const send = (m: FromGatewayWorker) => process.send?.(m);
let running: Running | undefined;
let stopping: Promise<void> | undefined;

// Signals to the process group (Ctrl-C, a container stop) reach the workers
// too, but the order of a shutdown is the primary's: workers first (closing
// sockets, marking agents disconnected in agent-service), then the rest.
process.on("SIGINT", () => {});
process.on("SIGTERM", () => {});

const stop = () =>
  (stopping ??= (async () => {
    await running?.close();
    send({ kind: "stopped" });
    process.exit(0);
  })());

// The primary is gone (killed): nobody will say stop, so stop now.
process.on("disconnect", () => void stop());

process.on("message", (m: ToGatewayWorker) => {
  if (m.kind === "start") void start(m.spec);
  else if (m.kind === "stop") void stop();
});
send({ kind: "ready" });

async function start(spec: GatewayWorkerSpec): Promise<void> {
  const logger = createLogger("opamp-gateway", spec.logLevel).child({ gateway: spec.gatewayId });
  try {
    running = await startGatewayAlone({
      ...spec.settings,
      gatewayId: spec.gatewayId,
      host: spec.host,
      port: spec.port,
      agentServiceUrl: spec.agentServiceUrl,
      internalToken: spec.internalToken,
      natsUrl: spec.natsUrl,
      tls: spec.tls,
      ...(spec.natsUrl ? {} : { bus: createWorkerChannelPushBus(process) }),
      logger,
    });
    send({ kind: "listening", port: running.port });
  } catch (err) {
    send({ kind: "failed", error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
}
