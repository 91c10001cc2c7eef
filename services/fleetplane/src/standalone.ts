import { createClient, createRouterTransport } from "@connectrpc/connect";
import { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import type { CustomCapabilities } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { AgentStore } from "@fleetplane/agent-service";
import { startGateway, type Gateway, gatewaySettings, type GatewaySettings } from "@fleetplane/opamp-gateway";
import { startApiServer, type DualProtocolServer, createInProcessPushBus, createInProcessTransport } from "@fleetplane/platform-node";
import type { Logger } from "@fleetplane/platform";
import { randomBytes } from "node:crypto";
import { chooseCertificateSigner, type CsrSettings } from "./certificate-authority-choice.js";
import { consoleWeb } from "./console-choice.js";
import { agentServiceModule, commandServiceModule } from "./service-modules.js";
import { openStores } from "./stores.js";

/** The whole control plane in one process; how its gateway treats agents as in GatewaySettings. */
export interface StandaloneOptions extends GatewaySettings {
  dataDir: string;
  host: string;
  opampPort: number;
  apiHost: string;
  apiPort: number;
  /** Default: "standalone-" and random hex, new on every start (see GatewayLeases). */
  gatewayId?: string;
  /** Heartbeat interval offered to agents (default 30 s; 0: none). */
  heartbeatIntervalSeconds?: number;
  /** Custom capabilities declared to agents (see AgentServiceModuleOptions); default none. */
  customCapabilities?: CustomCapabilities | undefined;
  /** Certificate signing requests; default: no CA (refused). */
  csr?: CsrSettings;
  /** Serve the web console at / on the API port (default true). */
  console?: boolean;
  /** How often rollouts are driven and watched (default 1 s). */
  rolloutTickMs?: number;
  logger: Logger;
}

export interface Standalone {
  opampPort: number;
  apiPort: number;
  gatewayId: string;
  gateway: Gateway;
  agents: AgentStore;
  close(): Promise<void>;
}

/**
 * Standalone mode: gateway, agent-service and command-service in one process,
 * on an embedded LMDB store and an in-process push bus. The gateway still
 * reaches the services only through their generated Connect clients (over an
 * in-process transport that calls the service implementations directly), so
 * distributed mode swaps transports, not code paths.
 */
export async function startStandalone(o: StandaloneOptions): Promise<Standalone> {
  const signer = await chooseCertificateSigner(o.csr ?? {}, { dataDir: o.dataDir, logger: o.logger });
  const stores = await openStores({ dataDir: o.dataDir, logger: o.logger });
  const bus = createInProcessPushBus();

  const commandService = commandServiceModule(stores, o.logger.child({ component: "command-service" }));
  const commandClient = createClient(CommandService, createInProcessTransport(commandService.services, createRouterTransport(commandService.routes)));
  // Without --csr-opamp-endpoint, agents are offered this process's own
  // OpAMP address with their certificate (known once the gateway listens).
  let ownOpampUrl = "";
  const agentService = agentServiceModule(stores, commandClient, bus, o.logger.child({ component: "agent-service" }), {
    certificates: { signer, approval: o.csr?.approval ?? "manual", opampEndpoint: () => o.csr?.opampEndpoint ?? ownOpampUrl },
    ...(o.heartbeatIntervalSeconds !== undefined ? { heartbeatIntervalSeconds: o.heartbeatIntervalSeconds } : {}),
    customCapabilities: o.customCapabilities,
    // One replica: the same name after a restart, so its rollouts resume at once.
    replicaId: "standalone",
    ...(o.rolloutTickMs ? { rolloutTickMs: o.rolloutTickMs } : {}),
  });
  const agentTransport = createInProcessTransport(agentService.services, createRouterTransport(agentService.routes));

  const gatewayId = o.gatewayId ?? `standalone-${randomBytes(4).toString("hex")}`;
  const gateway = await startGateway({
    ...gatewaySettings(o),
    // A new id per start: if the last run died without cleaning up, its
    // lease runs out and its agents are marked disconnected.
    gatewayId,
    host: o.host,
    port: o.opampPort,
    agents: createClient(AgentService, agentTransport),
    connections: createClient(ConnectionService, agentTransport),
    bus,
    logger: o.logger.child({ component: "opamp-gateway" }),
  });

  ownOpampUrl = `ws://${o.host.includes(":") ? `[${o.host}]` : o.host}:${gateway.port}/v1/opamp`;

  const api: DualProtocolServer = await startApiServer({
    host: o.apiHost,
    port: o.apiPort,
    logger: o.logger,
    routes: (r) => {
      agentService.routes(r);
      commandService.routes(r);
    },
    ready: async () => {
      await commandService.audit.ping();
      return true;
    },
    web: consoleWeb(o.console, o.logger.child({ component: "console" })),
  });

  return {
    opampPort: gateway.port,
    apiPort: api.port,
    gatewayId,
    gateway,
    agents: agentService.agents,
    async close() {
      // Order matters: stop taking agents, let cleanups mark them
      // disconnected, flush what is cached, then close the store.
      // Rollouts stop being judged first: the gateway closing disconnects
      // every agent, which is no verdict on a stage.
      await agentService.stopRollouts();
      await gateway.close();
      await api.close();
      await agentService.close();
      await commandService.close();
      await bus.close();
      await stores.close();
    },
  };
}
