import { createInProcessPushBus } from "@fleetplane/platform-node";
import type { Logger, PushBus } from "@fleetplane/platform";

const FIRST_CONNECT_WAIT_MS = 5_000;

/**
 * NATS when a URL is given (pushes cross processes); otherwise the in-process
 * bus, which only reaches a gateway in the same process — a service run alone
 * without NATS warns that agents will get changes on their next message.
 * The NATS client is loaded only when used, so standalone starts without it.
 */
export async function choosePushBus(o: { natsUrl?: string | undefined; name: string; logger: Logger; alone?: boolean }): Promise<PushBus> {
  if (o.natsUrl) {
    const { createNatsPushBus } = await import("@fleetplane/platform-node/nats");
    const bus = createNatsPushBus({ url: o.natsUrl, name: o.name, logger: o.logger });
    // Start with pushes working when NATS is there; without it, start anyway
    // (agents are still served) and keep connecting in the background.
    if (!(await bus.whenConnected(FIRST_CONNECT_WAIT_MS))) {
      o.logger.warn({ url: o.natsUrl }, `NATS did not answer within ${FIRST_CONNECT_WAIT_MS / 1000} s; starting without pushes and connecting in the background`);
    }
    return bus;
  }
  if (o.alone) o.logger.warn("no --nats-url: pushes cannot reach gateways in other processes; agents get changes on their next message");
  return createInProcessPushBus();
}
