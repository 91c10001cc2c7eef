import type { Client } from "@connectrpc/connect";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import { reportFullStateRequest } from "@fleetplane/opamp";
import type { Logger } from "@fleetplane/platform";
import type { AnnouncedCapabilities } from "./announced-capabilities.js";
import type { WebSocketRegistry } from "./websocket-registry.js";

/**
 * Keeps this gateway's lease alive (renewed every third of its length), so
 * agent-service can tell a dead gateway from a live one. If the lease lapsed
 * (renewals failed or came later than agent-service tolerates: it or its
 * database was down or slow), it may have been reaped and our agents marked
 * disconnected although their sockets are fine: agent-service then answers a
 * renewal with a new hold, and we ask every WebSocket agent here for its full
 * state, whose reply marks it connected again. Only then: a renewal that came
 * late while the lease still held reaped nothing, and asking every agent again
 * would add a write per agent to a store that is already slow.
 */
export function startLeaseRenewal(o: {
  gatewayId: string;
  /** This process's epoch: a renewal with a new one tells agent-service that the gateway restarted. */
  epoch: string;
  ttlSeconds: number;
  connections: Client<typeof AgentGatewayService>;
  registry: WebSocketRegistry;
  capabilities: AnnouncedCapabilities;
  logger: Logger;
  now?: () => number;
}): GatewayLease {
  const now = o.now ?? Date.now;
  const ttlMs = o.ttlSeconds * 1000;
  /**
   * When the last renewal that agent-service answered was sent: the lease it
   * extended runs at least a lease length from then (agent-service counts
   * from when it got the call, and tolerates half a lease more).
   */
  let lastRenewed = now();
  /** The hold agent-service named at our last renewal; undefined before the first. */
  let hold: string | undefined;
  let renewing: Promise<void> | undefined;

  const renew = async () => {
    const sentAt = now();
    try {
      const answer = await o.connections.renewGatewayLease({ gatewayId: o.gatewayId, ttlSeconds: o.ttlSeconds, gatewayEpoch: o.epoch }, { timeoutMs: 5_000 });
      // An agent-service older than holds names none: judge by our own clock.
      // The first hold of this process is no news: the agents here connected
      // to this process and told it everything in their first message (and
      // one that connected while this first renewal was in flight must not
      // get a request for full state before the reply to that message).
      const lapsed = answer.hold ? hold !== undefined && answer.hold !== hold : now() - lastRenewed > ttlMs;
      hold = answer.hold;
      lastRenewed = sentAt;
      if (lapsed) await askForFullState();
    } catch (err) {
      o.logger.warn({ err: String(err), gateway: o.gatewayId, sinceLastRenewalMs: now() - lastRenewed }, "could not renew the gateway lease; retrying");
    }
  };
  // One renewal at a time, whoever asks (the timer or a message).
  const renewNow = () => (renewing ??= renew().finally(() => (renewing = undefined)));

  const askForFullState = async () => {
    let asked = 0;
    for (const { instanceUid, conn } of o.registry.identified()) {
      const message = reportFullStateRequest(Buffer.from(instanceUid, "hex"), o.capabilities.current);
      await conn.push(message).catch(() => undefined);
      asked++;
    }
    if (asked > 0) o.logger.warn({ gateway: o.gatewayId, agents: asked }, "gateway lease was not held until now; asked connected agents to report their full state");
  };

  void renewNow();
  const timer = setInterval(() => void renewNow(), Math.max(200, ttlMs / 3));
  timer.unref();

  return {
    held() {
      return now() - lastRenewed < ttlMs;
    },
    current() {
      // Renewals every third of the lease keep this cheap path the only one
      // while agent-service answers.
      const since = now() - lastRenewed;
      if (since <= (ttlMs * 2) / 3) return Promise.resolve();
      // Late, but the lease still runs by its own expiry: renew without
      // holding up the message. Under a slow store a renewal may take its
      // whole 5 s timeout, and every message behind it would wait that long.
      if (since < ttlMs) {
        void renewNow();
        return Promise.resolve();
      }
      return renewNow();
    },
    async stop({ release }) {
      clearInterval(timer);
      await renewing;
      if (!release) return;
      await o.connections.releaseGatewayLease({ gatewayId: o.gatewayId }, { timeoutMs: 5_000 }).catch((err) => {
        o.logger.warn({ err: String(err), gateway: o.gatewayId }, "could not release the gateway lease; it expires by itself");
      });
    },
  };
}

export interface GatewayLease {
  /**
   * Resolves once the lease is known to be current: at once while it runs
   * by its own expiry (renewing in the background once it is late), after a
   * renewal once it may have run out. Messages wait for it so an agent is never recorded on this
   * gateway while the gateway has no live lease (it would never be reaped).
   */
  current(): Promise<void>;
  /** Whether the lease is known to be current now (less than a lease length since the last renewal that was answered was sent), without renewing. */
  held(): boolean;
  /** Stops renewing; `release` gives the lease back (only when every agent here was cleaned up). */
  stop(options: { release: boolean }): Promise<void>;
}
