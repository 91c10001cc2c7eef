import type { Client } from "@connectrpc/connect";
import type { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import type { Logger } from "@fleetplane/platform/logger";
import type { PushBus, PushSubscription } from "@fleetplane/platform/push-bus";
import { CleanupQueue } from "./cleanup-queue.js";
import { DEFAULT_LEASE_SECONDS, startLeaseRenewal } from "./gateway-lease.js";
import { GatewayMetrics } from "./gateway-metrics.js";
import { ConnectionTracker } from "./connection-tracker.js";
import { OpampService } from "./opamp-service.js";
import { OpampTransport } from "./opamp-transport.js";
import { createPushReceiver, reconcileAll } from "./push-receiver.js";
import { WebSocketRegistry } from "./websocket-registry.js";

export interface GatewayOptions {
  gatewayId: string;
  host: string;
  port: number;
  paths?: readonly string[];
  maxMessageBytes?: number;
  wsPingIntervalMs?: number;
  /** Heartbeat intervals a silent agent may miss before it is marked disconnected (default 3; see LivenessPolicy). */
  heartbeatMissedIntervals?: number;
  /** The interval assumed for agents the server gave none (default: the spec's 30 s). */
  defaultHeartbeatIntervalMs?: number;
  retryAfterMs?: number;
  /** Lease length; agent-service presumes this gateway dead this long after its last renewal. */
  leaseSeconds?: number;
  agents: Client<typeof AgentService>;
  connections: Client<typeof ConnectionService>;
  bus: PushBus;
  logger: Logger;
}

export interface Gateway {
  readonly port: number;
  readonly transport: OpampTransport;
  readonly cleanup: CleanupQueue;
  /** Graceful stop: refuse new agents, close sockets with 1001, finish cleanups. */
  close(): Promise<void>;
}

export const DEFAULT_OPAMP_PATHS = ["/v1/opamp", "/api/v1/opamp"] as const;
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Builds and starts one opamp-gateway (tests call this too). */
export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const registry = new WebSocketRegistry();
  const cleanup = new CleanupQueue(o.logger);
  const lease = startLeaseRenewal({
    gatewayId: o.gatewayId,
    ttlSeconds: o.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
    connections: o.connections,
    registry,
    logger: o.logger,
  });
  const service = new OpampService({
    agents: o.agents,
    connections: new ConnectionTracker(o.gatewayId, o.connections),
    registry,
    cleanup,
    logger: o.logger,
    retryAfterMs: o.retryAfterMs ?? 30_000,
    leaseCurrent: () => lease.current(),
  });
  const transport = new OpampTransport(
    {
      host: o.host,
      port: o.port,
      paths: o.paths ?? DEFAULT_OPAMP_PATHS,
      maxMessageBytes: o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      wsPingIntervalMs: o.wsPingIntervalMs ?? 30_000,
      liveness: { missedIntervals: o.heartbeatMissedIntervals ?? 3, defaultIntervalMs: o.defaultHeartbeatIntervalMs ?? 30_000 },
      gatewayId: o.gatewayId,
      logger: o.logger,
    },
    service,
  );
  const onPush = createPushReceiver({ agents: o.agents, registry, logger: o.logger });
  const subscription: PushSubscription = await o.bus.subscribe(
    o.gatewayId,
    (n) => void onPush(n),
    () => void reconcileAll({ registry, onPush, logger: o.logger }),
  );
  const stopCounting = GatewayMetrics.get().countConnected(() => ({ ws: transport.connectedWebSockets, http: transport.connectedHttpAgents }));
  const port = await transport.listen();
  o.logger.info({ port, host: o.host, paths: o.paths ?? DEFAULT_OPAMP_PATHS, gateway: o.gatewayId }, "OpAMP listening (WebSocket and plain HTTP)");
  return {
    port,
    transport,
    cleanup,
    async close() {
      service.stopAccepting();
      await subscription.unsubscribe();
      await transport.close();
      const drained = await cleanup.drain(10_000);
      if (!drained) o.logger.warn({ backlog: cleanup.backlog }, "shutdown: connection cleanups still pending; the gateway lease will expire and agent-service reaps them");
      await lease.stop({ release: drained });
      stopCounting();
    },
  };
}
