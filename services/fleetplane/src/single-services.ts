import { createClient } from "@connectrpc/connect";
import { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { CommandRecorderService } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import type { CustomCapabilities } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { startGateway, gatewaySettings, type GatewaySettings } from "@fleetplane/opamp-gateway";
import { startApiServer, startInternalServer, type TlsFiles } from "@fleetplane/platform-node";
import { UsageError, type Logger } from "@fleetplane/platform";
import { adminAccess, type AdminAccessSettings } from "./admin-access-choice.js";
import { chooseCertificateSigner, type CsrSettings } from "./certificate-authority-choice.js";
import { consoleWeb } from "./console-choice.js";
import type { InternalClientSettings, InternalListenerSettings } from "./internal-listener-choice.js";
import { choosePushBus } from "./push-bus-choice.js";
import { internalTransport } from "./internal-transport.js";
import { agentServiceModule, commandServiceModule } from "./service-modules.js";
import { openStores } from "./stores.js";

/** Something started that must be stopped in order. */
export interface Running {
  port: number;
  close(): Promise<void>;
}

interface Listen {
  host: string;
  port: number;
  logger: Logger;
}

/** The admin port of a service: where admins (and the console) come in. */
interface AdminPort {
  access: AdminAccessSettings;
}

/**
 * command-service alone: ListCommands on its admin port; RecordCommand and
 * UpdateCommandState (and ListCommands, for agent-service to forward) on its
 * internal listener. Embedded store or MongoDB.
 */
export async function startCommandServiceAlone(
  o: Listen & AdminPort & { dataDir: string; mongoUrl?: string | undefined; internal: InternalListenerSettings },
): Promise<Running> {
  const stores = await openStores({ dataDir: o.dataDir, mongoUrl: o.mongoUrl, logger: o.logger });
  const service = commandServiceModule(stores, o.logger);
  const access = adminAccess(o.access, stores.access, o.logger.child({ component: "access" }));
  const api = await startApiServer({
    host: o.host,
    port: o.port,
    logger: o.logger,
    ...access.server,
    routes: service.routes,
    ready: async () => (await service.audit.ping(), true),
  });
  const internal = await startInternalServer({
    ...o.internal,
    logger: o.logger,
    routes: (r) => {
      service.internalRoutes(r);
      service.routes(r);
    },
  });
  return { port: api.port, close: async () => (await api.close(), await access.close(), await internal.close(), await service.close(), await stores.close()) };
}

/**
 * agent-service alone: the admin API on its port (AgentService,
 * ConnectionService, CertificateService, PackageService, AccessService, the
 * console), AgentGatewayService for gateways on its internal listener,
 * command-service's internal listener reached over Connect (HTTP/2), pushes
 * over NATS when a URL is given. It answers CommandService.ListCommands by
 * asking command-service (after its own interceptor let the caller in), so a
 * browser (or any client reading the audit trail) needs this one address.
 */
export async function startAgentServiceAlone(
  o: Listen &
    AdminPort & {
      dataDir: string;
      mongoUrl?: string | undefined;
      natsUrl?: string | undefined;
      /** command-service's internal listener. */
      commandServiceUrl: string;
      /** This service's internal listener (gateways call it). */
      internal: InternalListenerSettings;
      /** How it calls command-service's: the CAs for https:// (its token is `internal.token`). */
      internalCa?: string[] | undefined;
      reapIntervalMs?: number;
      rolloutTickMs?: number;
      rolloutLeaseMs?: number;
      heartbeatIntervalSeconds?: number;
      /** Custom capabilities declared to agents (see AgentServiceModuleOptions). */
      customCapabilities?: CustomCapabilities | undefined;
      /** Agents disconnected longer than this are removed (default 30 days; 0: kept forever). */
      agentRetentionMs?: number;
      csr?: CsrSettings;
      console?: boolean;
    },
): Promise<Running> {
  const signer = await chooseCertificateSigner(o.csr ?? {}, { dataDir: o.dataDir, logger: o.logger });
  const opampEndpoint = o.csr?.opampEndpoint;
  // agent-service cannot know the address agents reach the gateways at.
  if (signer && !opampEndpoint) throw new UsageError("--csr-opamp-endpoint is needed with a CSR CA: the OpAMP URL (of your gateways or their load balancer) offered with issued certificates");
  const stores = await openStores({ dataDir: o.dataDir, mongoUrl: o.mongoUrl, logger: o.logger });
  const bus = await choosePushBus({ natsUrl: o.natsUrl, name: `agent-service-${process.pid}`, logger: o.logger, alone: true });
  const toCommandService = internalTransport(o.commandServiceUrl, { token: o.internal.token, ca: o.internalCa });
  const recorder = createClient(CommandRecorderService, toCommandService);
  const commandReader = createClient(CommandService, toCommandService);
  const service = agentServiceModule(stores, recorder, bus, o.logger, {
    ...(o.reapIntervalMs ? { reapIntervalMs: o.reapIntervalMs } : {}),
    ...(o.rolloutTickMs ? { rolloutTickMs: o.rolloutTickMs } : {}),
    ...(o.rolloutLeaseMs ? { rolloutLeaseMs: o.rolloutLeaseMs } : {}),
    certificates: { signer, approval: o.csr?.approval ?? "manual", opampEndpoint: () => opampEndpoint ?? "" },
    ...(o.heartbeatIntervalSeconds !== undefined ? { heartbeatIntervalSeconds: o.heartbeatIntervalSeconds } : {}),
    customCapabilities: o.customCapabilities,
    ...(o.agentRetentionMs !== undefined ? { agentRetentionMs: o.agentRetentionMs } : {}),
  });
  const access = adminAccess(o.access, stores.access, o.logger.child({ component: "access" }), bus);
  const api = await startApiServer({
    host: o.host,
    port: o.port,
    logger: o.logger,
    ...access.server,
    routes: (r) => {
      service.routes(r);
      for (const { service: s, impl } of access.services) r.service(s, impl as never);
      // Read-only: recording and updating commands stay command-service's own.
      r.service(CommandService, { listCommands: (req, ctx) => commandReader.listCommands(req, { signal: ctx.signal }) });
    },
    ready: async () => (await service.ping(), true),
    web: consoleWeb(o.console, o.logger.child({ component: "console" }), o.access?.consoleOidc),
  });
  const internal = await startInternalServer({ ...o.internal, logger: o.logger, routes: service.internalRoutes });
  return {
    port: api.port,
    async close() {
      // No reaping while shutting down: gateways cannot renew meanwhile.
      await service.leases.stop();
      await api.close();
      await access.close();
      await internal.close();
      await service.close();
      await bus.close();
      await stores.close();
    },
  };
}

/** opamp-gateway alone: OpAMP on its port, agent-service's internal listener over Connect (HTTP/2), pushes from NATS. */
export async function startGatewayAlone(
  o: Listen &
    GatewaySettings & {
      gatewayId: string;
      /** agent-service's internal listener. */
      agentServiceUrl: string;
      /** The service token agent-service's internal listener asks for, and the CAs of its certificate (https://). */
      internal: InternalClientSettings;
      natsUrl?: string | undefined;
      /** TLS on the OpAMP port; plain HTTP without. */
      tls?: TlsFiles | undefined;
    },
): Promise<Running> {
  const bus = await choosePushBus({ natsUrl: o.natsUrl, name: `gateway-${o.gatewayId}`, logger: o.logger, alone: true });
  const gateway = await startGateway({
    ...gatewaySettings(o),
    gatewayId: o.gatewayId,
    host: o.host,
    port: o.port,
    agentService: createClient(AgentGatewayService, internalTransport(o.agentServiceUrl, o.internal)),
    bus,
    logger: o.logger,
    tls: o.tls,
  });
  return {
    port: gateway.port,
    async close() {
      await gateway.close();
      await bus.close();
    },
  };
}
