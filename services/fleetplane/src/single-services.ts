import { createClient, type ConnectRouter } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
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
import { startGateway } from "@fleetplane/opamp-gateway/gateway";
import { startApiServer } from "@fleetplane/platform/api-server";
import { openEmbeddedStore } from "@fleetplane/platform/embedded-store";
import { createInProcessPushBus } from "@fleetplane/platform/in-process-push-bus";
import type { Logger } from "@fleetplane/platform/logger";

/** Something started that must be stopped in order. */
export interface Running {
  port: number;
  close(): Promise<void>;
}

const h2 = (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "2" });

/** command-service alone: its API on its own port, its own embedded store. */
export async function startCommandServiceAlone(o: { dataDir: string; host: string; port: number; logger: Logger }): Promise<Running> {
  const store = openEmbeddedStore(o.dataDir);
  const audit = new CommandAudit(createLmdbCommandRepository(store));
  const api = await startApiServer({
    host: o.host,
    port: o.port,
    logger: o.logger,
    routes: (r: ConnectRouter) => r.service(CommandService, createCommandServiceImpl(audit, o.logger)),
    ready: async () => (await audit.ping(), true),
  });
  return { port: api.port, close: async () => (await api.close(), await store.close()) };
}

/**
 * agent-service alone: its API on its own port, command-service reached over
 * Connect (HTTP/2). Without a shared bus (NATS, not built yet) pushes cannot
 * reach a gateway in another process: agents get changes on their next message.
 */
export async function startAgentServiceAlone(o: { dataDir: string; host: string; port: number; commandServiceUrl: string; logger: Logger }): Promise<Running> {
  const store = openEmbeddedStore(o.dataDir);
  const audit = createConnectCommandAudit(createClient(CommandService, h2(o.commandServiceUrl)), o.logger);
  const bus = createInProcessPushBus();
  const agents = new AgentUsecase({ agents: createLmdbAgentRepository(store), audit, push: bus, logger: o.logger });
  const connections = new ConnectionUsecase(createLmdbConnectionRepository(store));
  const api = await startApiServer({
    host: o.host,
    port: o.port,
    logger: o.logger,
    routes: (r: ConnectRouter) => {
      r.service(AgentService, createAgentServiceImpl(agents, o.logger));
      r.service(ConnectionService, createConnectionServiceImpl(connections, o.logger));
    },
  });
  return {
    port: api.port,
    async close() {
      await api.close();
      await agents.close();
      await audit.drain();
      await store.close();
    },
  };
}

/** opamp-gateway alone: OpAMP on its port, agent-service reached over Connect (HTTP/2). */
export async function startGatewayAlone(o: { gatewayId: string; host: string; port: number; agentServiceUrl: string; logger: Logger }): Promise<Running> {
  const transport = h2(o.agentServiceUrl);
  const gateway = await startGateway({
    gatewayId: o.gatewayId,
    host: o.host,
    port: o.port,
    agents: createClient(AgentService, transport),
    connections: createClient(ConnectionService, transport),
    bus: createInProcessPushBus(),
    logger: o.logger,
  });
  return { port: gateway.port, close: () => gateway.close() };
}
