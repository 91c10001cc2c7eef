import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { startGateway } from "@fleetplane/opamp-gateway/gateway";
import { startApiServer } from "@fleetplane/platform/api-server";
import { openEmbeddedStore } from "@fleetplane/platform/embedded-store";
import { createInProcessPushBus } from "@fleetplane/platform/in-process-push-bus";
import type { Logger } from "@fleetplane/platform/logger";
import { agentServiceModule, commandServiceModule } from "./service-modules.js";

/** Something started that must be stopped in order. */
export interface Running {
  port: number;
  close(): Promise<void>;
}

const h2 = (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "2" });

/** command-service alone: its API on its own port, its own embedded store. */
export async function startCommandServiceAlone(o: { dataDir: string; host: string; port: number; logger: Logger }): Promise<Running> {
  const store = openEmbeddedStore(o.dataDir);
  const service = commandServiceModule(store, o.logger);
  const api = await startApiServer({
    host: o.host,
    port: o.port,
    logger: o.logger,
    routes: service.routes,
    ready: async () => (await service.audit.ping(), true),
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
  const service = agentServiceModule(store, createClient(CommandService, h2(o.commandServiceUrl)), createInProcessPushBus(), o.logger);
  const api = await startApiServer({ host: o.host, port: o.port, logger: o.logger, routes: service.routes });
  return {
    port: api.port,
    async close() {
      await api.close();
      await service.close();
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
