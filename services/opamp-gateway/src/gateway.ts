import type { Client } from "@connectrpc/connect";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import { instanceUidToHex, uuidv7Bytes, type Logger, type PushBus, type PushSubscription } from "@fleetplane/platform";
import type { TlsFiles } from "@fleetplane/platform-node";
import { AnnouncedCapabilities } from "./announced-capabilities.js";
import { CleanupQueue } from "./cleanup-queue.js";
import { startLeaseRenewal } from "./gateway-lease.js";
import { GatewayMetrics } from "./gateway-metrics.js";
import { gatewaySettings, type GatewaySettings } from "./gateway-settings.js";
import { ConnectionTracker } from "./connection-tracker.js";
import { OpampService } from "./opamp-service.js";
import { OpampTransport } from "./opamp-transport.js";
import { NewAgentAdmission } from "./new-agent-admission.js";
import { RateLimitedWarnings } from "./rate-limited-warnings.js";
import { createPushReceiver, reconcileAll } from "./push-receiver.js";
import { WebSocketRegistry } from "./websocket-registry.js";
import { AgentAuthenticator, requiresClientCertificate } from "./agent-authentication.js";
import { TrustedProxies } from "./trusted-proxies.js";

/** A gateway: who it is, where it listens, how it treats agents (GatewaySettings) and what it talks to. */
export interface GatewayOptions extends GatewaySettings {
  /** Unique per gateway replica; a NATS subject token (letters, digits, _ and -). */
  gatewayId: string;
  host: string;
  /** 0: any free port (see Gateway.port). */
  port: number;
  /** agent-service's internal API (in process in standalone, its internal listener otherwise). */
  agentService: Client<typeof AgentGatewayService>;
  bus: PushBus;
  logger: Logger;
  /**
   * TLS on the OpAMP port (HTTPS and wss://), reloaded when the files change;
   * plain HTTP without. With clientCaFile (--agent-client-ca) agents' client
   * certificates are asked for and verified (mTLS).
   */
  tls?: TlsFiles | undefined;
}

/** --agent-auth mtls or token+mtls without a client CA on a TLS port: no agent could ever connect. */
export class ClientCaRequiredError extends Error {
  constructor(readonly mode: string) {
    super(`--agent-auth ${mode} needs TLS on the OpAMP port with a client CA: give --tls-cert, --tls-key and --agent-client-ca`);
    this.name = "ClientCaRequiredError";
  }
}

export interface Gateway {
  readonly port: number;
  readonly transport: OpampTransport;
  readonly cleanup: CleanupQueue;
  /** Graceful stop: refuse new agents, close sockets with 1001, finish cleanups. */
  close(): Promise<void>;
}

const uuidv7Hex = () => instanceUidToHex(uuidv7Bytes());

/** Builds and starts one opamp-gateway (tests call this too). */
export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const settings = gatewaySettings(o);
  if (requiresClientCertificate(settings.agentAuth) && !o.tls?.clientCaFile) throw new ClientCaRequiredError(settings.agentAuth);
  // This process's epoch: its connections are told apart from those of an
  // earlier process with the same gateway id (restarted after a crash).
  const epoch = uuidv7Hex();
  const registry = new WebSocketRegistry();
  const cleanup = new CleanupQueue(o.logger);
  const capabilities = new AnnouncedCapabilities();
  const warnings = new RateLimitedWarnings(o.logger, GatewayMetrics.get(), settings.warningIntervalMs);
  const flushWarnings = setInterval(() => warnings.flush(), settings.warningIntervalMs).unref();
  const lease = startLeaseRenewal({
    gatewayId: o.gatewayId,
    epoch,
    ttlSeconds: settings.leaseSeconds,
    connections: o.agentService,
    registry,
    capabilities,
    logger: o.logger,
  });
  // Set once the transport exists: a credential found revoked ends its sessions.
  let transportRef: OpampTransport | undefined;
  // Under "none" too, a client certificate that is presented is checked.
  const authenticator =
    settings.agentAuth === "none" && !o.tls?.clientCaFile
      ? undefined
      : new AgentAuthenticator({
          mode: settings.agentAuth,
          agents: o.agentService,
          recheckMs: settings.agentTokenRecheckMs,
          onRefused: (credential, reason) => transportRef?.closeSessionsOf(credential, reason),
          held: () => transportRef?.heldCredentials() ?? new Set(),
          logger: o.logger,
        });
  const service = new OpampService({
    agents: o.agentService,
    connections: new ConnectionTracker(o.gatewayId, o.agentService, epoch),
    registry,
    cleanup,
    capabilities,
    logger: o.logger,
    warnings,
    retryAfterMs: settings.retryAfterMs,
    leaseCurrent: () => lease.current(),
    leaseHeld: () => lease.held(),
    ...(authenticator ? { authenticator } : {}),
  });
  const transport = new OpampTransport(
    {
      host: o.host,
      port: o.port,
      paths: settings.paths,
      maxMessageBytes: settings.maxMessageBytes,
      wsPingIntervalMs: settings.wsPingIntervalMs,
      firstMessageTimeoutMs: settings.firstMessageTimeoutMs,
      handshakeTimeoutMs: settings.handshakeTimeoutMs,
      maxConnections: settings.maxConnections,
      retryAfterMs: settings.retryAfterMs,
      limits: {
        maxDescriptionAttributes: settings.maxDescriptionAttributes,
        maxAttributeBytes: settings.maxAttributeBytes,
        maxCustomMessageBytes: settings.maxCustomMessageBytes,
        maxEffectiveConfigBytes: settings.maxEffectiveConfigBytes,
        maxHealthComponents: settings.maxHealthComponents,
        maxHealthDepth: settings.maxHealthDepth,
        maxPackageStatuses: settings.maxPackageStatuses,
        maxPackageStatusBytes: settings.maxPackageStatusBytes,
        maxAvailableComponents: settings.maxAvailableComponents,
        maxAvailableComponentsDepth: settings.maxAvailableComponentsDepth,
        maxAvailableComponentsBytes: settings.maxAvailableComponentsBytes,
      },
      admission: new NewAgentAdmission({ perSource: settings.newAgentsPerSecondPerSource, total: settings.newAgentsPerSecond, connecting: settings.maxConnectingAgents }),
      warnings,
      liveness: { missedIntervals: settings.heartbeatMissedIntervals, defaultIntervalMs: settings.defaultHeartbeatIntervalMs },
      capabilities,
      gatewayId: o.gatewayId,
      logger: o.logger,
      tls: o.tls,
      trustedProxies: new TrustedProxies(settings.trustedProxies),
    },
    service,
  );
  transportRef = transport;
  const onPush = createPushReceiver({ agents: o.agentService, registry, logger: o.logger, noticed: (conn) => service.pushNoticed(conn) });
  const subscription: PushSubscription = await o.bus.subscribe(
    o.gatewayId,
    (n) => void onPush(n),
    () => void reconcileAll({ registry, onPush, logger: o.logger }),
  );
  const stopCounting = GatewayMetrics.get().countConnected(() => ({ ws: transport.connectedWebSockets, http: transport.connectedHttpAgents }));
  const port = await transport.listen();
  o.logger.info({ port, host: o.host, paths: settings.paths, gateway: o.gatewayId, agentAuth: settings.agentAuth }, o.tls ? (o.tls.clientCaFile ? "OpAMP listening (wss:// and https://, client certificates verified)" : "OpAMP listening (wss:// and https://)") : "OpAMP listening (WebSocket and plain HTTP)");
  o.logger.debug({ gateway: o.gatewayId, epoch }, "gateway epoch");
  return {
    port,
    transport,
    cleanup,
    async close() {
      service.stopAccepting();
      await subscription.unsubscribe();
      await transport.close();
      const drained = await cleanup.drain(10_000);
      service.stop();
      if (!drained) o.logger.warn({ backlog: cleanup.backlog }, "shutdown: connection cleanups still pending; the gateway lease will expire and agent-service reaps them");
      await lease.stop({ release: drained });
      stopCounting();
      authenticator?.stop();
      clearInterval(flushWarnings);
      warnings.flush();
    },
  };
}
