import { createClient, createRouterTransport, type ConnectRouter } from "@connectrpc/connect";
import { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { createLmdbAgentRepository, createLmdbConnectionRepository } from "@fleetplane/agent-service/adapters/lmdb-agent-repository";
import { createConnectCommandAudit } from "@fleetplane/agent-service/adapters/connect-command-audit";
import { createAgentServiceImpl, createConnectionServiceImpl } from "@fleetplane/agent-service/agent-service-impl";
import { AgentUsecase } from "@fleetplane/agent-service/domain/agent-usecase";
import { ConnectionUsecase } from "@fleetplane/agent-service/domain/connection-usecase";
import { createLmdbCommandRepository } from "@fleetplane/command-service/adapters/lmdb-command-repository";
import { createCommandServiceImpl } from "@fleetplane/command-service/command-service-impl";
import { CommandAudit } from "@fleetplane/command-service/domain/command-audit";
import { startGateway, type Gateway } from "@fleetplane/opamp-gateway/gateway";
import { startApiServer } from "@fleetplane/platform/api-server";
import type { DualProtocolServer } from "@fleetplane/platform/dual-protocol-server";
import { openEmbeddedStore } from "@fleetplane/platform/embedded-store";
import { createInProcessPushBus } from "@fleetplane/platform/in-process-push-bus";
import type { Logger } from "@fleetplane/platform/logger";

export interface StandaloneOptions {
  dataDir: string;
  host: string;
  opampPort: number;
  apiHost: string;
  apiPort: number;
  gatewayId?: string;
  maxMessageBytes?: number;
  httpAgentTimeoutMs?: number;
  retryAfterMs?: number;
  logger: Logger;
}

export interface Standalone {
  opampPort: number;
  apiPort: number;
  gateway: Gateway;
  agents: AgentUsecase;
  close(): Promise<void>;
}

/**
 * Standalone mode: gateway, agent-service and command-service in one process,
 * on an embedded LMDB store and an in-process push bus. The gateway still
 * reaches the services only through their generated Connect clients (over an
 * in-memory transport), so distributed mode swaps transports, not code paths.
 */
export async function startStandalone(o: StandaloneOptions): Promise<Standalone> {
  const store = openEmbeddedStore(o.dataDir);
  const bus = createInProcessPushBus();

  const commandAudit = new CommandAudit(createLmdbCommandRepository(store));
  const commandRoutes = (r: ConnectRouter) => r.service(CommandService, createCommandServiceImpl(commandAudit, o.logger.child({ component: "command-service" })));
  const commandClient = createClient(CommandService, createRouterTransport(commandRoutes));

  const audit = createConnectCommandAudit(commandClient, o.logger.child({ component: "agent-service" }));
  const agents = new AgentUsecase({ agents: createLmdbAgentRepository(store), audit, push: bus, logger: o.logger.child({ component: "agent-service" }) });
  const connections = new ConnectionUsecase(createLmdbConnectionRepository(store));
  const agentRoutes = (r: ConnectRouter) => {
    r.service(AgentService, createAgentServiceImpl(agents, o.logger.child({ component: "agent-service" })));
    r.service(ConnectionService, createConnectionServiceImpl(connections, o.logger.child({ component: "agent-service" })));
  };
  const agentTransport = createRouterTransport(agentRoutes);

  const gateway = await startGateway({
    gatewayId: o.gatewayId ?? "standalone",
    host: o.host,
    port: o.opampPort,
    ...(o.maxMessageBytes ? { maxMessageBytes: o.maxMessageBytes } : {}),
    ...(o.httpAgentTimeoutMs ? { httpAgentTimeoutMs: o.httpAgentTimeoutMs } : {}),
    ...(o.retryAfterMs ? { retryAfterMs: o.retryAfterMs } : {}),
    agents: createClient(AgentService, agentTransport),
    connections: createClient(ConnectionService, agentTransport),
    bus,
    logger: o.logger.child({ component: "opamp-gateway" }),
  });

  const api: DualProtocolServer = await startApiServer({
    host: o.apiHost,
    port: o.apiPort,
    logger: o.logger,
    routes: (r) => {
      agentRoutes(r);
      commandRoutes(r);
    },
    ready: async () => {
      await commandAudit.ping();
      return true;
    },
  });

  return {
    opampPort: gateway.port,
    apiPort: api.port,
    gateway,
    agents,
    async close() {
      // Order matters: stop taking agents, let cleanups mark them
      // disconnected, flush what is cached, then close the store.
      await gateway.close();
      await api.close();
      await agents.close();
      await audit.drain();
      await bus.close();
      await store.close();
    },
  };
}
