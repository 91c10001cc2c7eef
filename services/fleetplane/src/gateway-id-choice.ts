import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { ACCESS_CHANNEL } from "@fleetplane/access";
import { REPLICAS_CHANNEL, ROLLOUT_PIN_BATCHES_CHANNEL, ROLLOUT_PINS_CHANNEL } from "@fleetplane/agent-service";
import { UsageError, assertGatewayId } from "@fleetplane/platform";

/**
 * Ids on the push bus that are not gateways: the services' own channels
 * share the gateways' id space (one subject per id), so a gateway that took
 * one would receive those notices as pushes and the services would lose them.
 */
const SERVICE_CHANNELS: readonly string[] = [ACCESS_CHANNEL, REPLICAS_CHANNEL, ROLLOUT_PINS_CHANNEL, ROLLOUT_PIN_BATCHES_CHANNEL];

/** A gateway id unique to this process, usable as a NATS subject token. */
function defaultGatewayId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40) || "host";
  return `${host}-${randomBytes(3).toString("hex")}`;
}

/** --gateway-id, or the default: refused (naming the flag) when it cannot name a bus subject or is a service's channel. */
export function gatewayIdOf(given: string | undefined): string {
  const id = given ?? defaultGatewayId();
  try {
    assertGatewayId(id);
  } catch (err) {
    throw new UsageError(`--gateway-id: ${(err as Error).message}`);
  }
  if (SERVICE_CHANNELS.includes(id)) throw new UsageError(`--gateway-id: "${id}" is the push bus channel of a service (reserved: ${SERVICE_CHANNELS.join(", ")}); choose another id`);
  return id;
}
