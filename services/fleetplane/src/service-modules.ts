import type { Client, ConnectRouter } from "@connectrpc/connect";
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
import type { EmbeddedStore } from "@fleetplane/platform/embedded-store";
import type { Logger } from "@fleetplane/platform/logger";
import type { PushBus } from "@fleetplane/platform/push-bus";

/**
 * Each service assembled once, from its store and the clients it needs; the
 * standalone process and the single-service commands only choose transports.
 */
export function commandServiceModule(store: EmbeddedStore, logger: Logger) {
  const audit = new CommandAudit(createLmdbCommandRepository(store));
  return {
    audit,
    routes: (r: ConnectRouter) => r.service(CommandService, createCommandServiceImpl(audit, logger)),
  };
}

export function agentServiceModule(store: EmbeddedStore, commands: Client<typeof CommandService>, bus: PushBus, logger: Logger) {
  const audit = createConnectCommandAudit(commands, logger);
  const agents = new AgentUsecase({ agents: createLmdbAgentRepository(store), audit, push: bus, logger });
  const connections = new ConnectionUsecase(createLmdbConnectionRepository(store));
  return {
    agents,
    /** Flushes cached agent state and the audit queue (in that order). */
    async close() {
      await agents.close();
      await audit.drain();
    },
    routes: (r: ConnectRouter) => {
      r.service(AgentService, createAgentServiceImpl(agents, logger));
      r.service(ConnectionService, createConnectionServiceImpl(connections, logger));
    },
  };
}
