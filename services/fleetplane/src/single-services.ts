import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import type { CustomCapabilities } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { startGateway, gatewaySettings, type GatewaySettings } from "@fleetplane/opamp-gateway";
import { startApiServer, traceClientInterceptor } from "@fleetplane/platform-node";
import { UsageError, type Logger } from "@fleetplane/platform";
import { chooseCertificateSigner, type CsrSettings } from "./certificate-authority-choice.js";
import { consoleWeb } from "./console-choice.js";
import { choosePushBus } from "./push-bus-choice.js";
import { agentServiceModule, commandServiceModule } from "./service-modules.js";
import { openStores } from "./stores.js";

/** Something started that must be stopped in order. */
export interface Running {
  port: number;
  close(): Promise<void>;
}

// Every hop between services carries the trace (W3C trace context) when tracing is on.
const h2 = (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "2", interceptors: [traceClientInterceptor] });

interface Listen {
  host: string;
  port: number;
  logger: Logger;
}

/** command-service alone: its API on its own port; embedded store or MongoDB. */
export async function startCommandServiceAlone(o: Listen & { dataDir: string; mongoUrl?: string | undefined }): Promise<Running> {
  const stores = await openStores({ dataDir: o.dataDir, mongoUrl: o.mongoUrl, logger: o.logger });
  const service = commandServiceModule(stores, o.logger);
  const api = await startApiServer({
    host: o.host,
    port: o.port,
    logger: o.logger,
    routes: service.routes,
    ready: async () => (await service.audit.ping(), true),
  });
  return { port: api.port, close: async () => (await api.close(), await service.close(), await stores.close()) };
}

/**
 * agent-service alone: its API on its own port, command-service reached over
 * Connect (HTTP/2), pushes over NATS when a URL is given. It also serves the
 * web console, and answers CommandService.ListCommands by asking
 * command-service, so a browser (or any client reading the audit trail)
 * needs this one address.
 */
export async function startAgentServiceAlone(
  o: Listen & {
    dataDir: string;
    mongoUrl?: string | undefined;
    natsUrl?: string | undefined;
    commandServiceUrl: string;
    reapIntervalMs?: number;
    rolloutTickMs?: number;
    rolloutLeaseMs?: number;
    heartbeatIntervalSeconds?: number;
    /** Custom capabilities declared to agents (see AgentServiceModuleOptions). */
    customCapabilities?: CustomCapabilities | undefined;
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
  const commands = createClient(CommandService, h2(o.commandServiceUrl));
  const service = agentServiceModule(stores, commands, bus, o.logger, {
    ...(o.reapIntervalMs ? { reapIntervalMs: o.reapIntervalMs } : {}),
    ...(o.rolloutTickMs ? { rolloutTickMs: o.rolloutTickMs } : {}),
    ...(o.rolloutLeaseMs ? { rolloutLeaseMs: o.rolloutLeaseMs } : {}),
    certificates: { signer, approval: o.csr?.approval ?? "manual", opampEndpoint: () => opampEndpoint ?? "" },
    ...(o.heartbeatIntervalSeconds !== undefined ? { heartbeatIntervalSeconds: o.heartbeatIntervalSeconds } : {}),
    customCapabilities: o.customCapabilities,
  });
  const api = await startApiServer({
    host: o.host,
    port: o.port,
    logger: o.logger,
    routes: (r) => {
      service.routes(r);
      // Read-only: recording and updating commands stay command-service's own.
      r.service(CommandService, { listCommands: (req, ctx) => commands.listCommands(req, { signal: ctx.signal }) });
    },
    ready: async () => (await service.ping(), true),
    web: consoleWeb(o.console, o.logger.child({ component: "console" })),
  });
  return {
    port: api.port,
    async close() {
      // No reaping while shutting down: gateways cannot renew meanwhile.
      await service.leases.stop();
      await api.close();
      await service.close();
      await bus.close();
      await stores.close();
    },
  };
}

/** opamp-gateway alone: OpAMP on its port, agent-service over Connect (HTTP/2), pushes from NATS. */
export async function startGatewayAlone(
  o: Listen &
    GatewaySettings & {
      gatewayId: string;
      agentServiceUrl: string;
      natsUrl?: string | undefined;
    },
): Promise<Running> {
  const transport = h2(o.agentServiceUrl);
  const bus = await choosePushBus({ natsUrl: o.natsUrl, name: `gateway-${o.gatewayId}`, logger: o.logger, alone: true });
  const gateway = await startGateway({
    ...gatewaySettings(o),
    gatewayId: o.gatewayId,
    host: o.host,
    port: o.port,
    agents: createClient(AgentService, transport),
    connections: createClient(ConnectionService, transport),
    bus,
    logger: o.logger,
  });
  return {
    port: gateway.port,
    async close() {
      await gateway.close();
      await bus.close();
    },
  };
}
