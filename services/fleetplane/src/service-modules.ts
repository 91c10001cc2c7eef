import type { Client, ConnectRouter } from "@connectrpc/connect";
import { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CertificateService } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { createCertificateServiceImpl } from "@fleetplane/agent-service/certificate-service-impl";
import { CertificateDesk, type CsrApproval } from "@fleetplane/agent-service/domain/certificate-desk";
import { CertificateRequestUsecase } from "@fleetplane/agent-service/domain/certificate-requests";
import type { CertificateSigner } from "@fleetplane/agent-service/domain/certificate-signer";
import type { CustomCapabilities } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { PackageService } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { createConnectCommandAudit } from "@fleetplane/agent-service/adapters/connect-command-audit";
import { createAgentServiceImpl, createConnectionServiceImpl } from "@fleetplane/agent-service/agent-service-impl";
import { AgentUsecase } from "@fleetplane/agent-service/domain/agent-usecase";
import { ConnectionUsecase } from "@fleetplane/agent-service/domain/connection-usecase";
import { GatewayLeases } from "@fleetplane/agent-service/domain/gateway-leases";
import { PackageRegistry } from "@fleetplane/agent-service/domain/package-registry";
import { createPackageServiceImpl } from "@fleetplane/agent-service/package-service-impl";
import { createCommandServiceImpl } from "@fleetplane/command-service/command-service-handler";
import { CommandAudit } from "@fleetplane/command-service/domain/command-audit";
import { exposePendingCommands } from "@fleetplane/command-service/pending-commands-metric";
import { registration, type ServiceRegistration } from "@fleetplane/platform/in-process-transport";
import type { Logger } from "@fleetplane/platform/logger";
import type { PushBus } from "@fleetplane/platform/push-bus";
import type { AgentStores, CommandStores } from "./stores.js";

/**
 * Each service assembled once, from its store and the clients it needs; the
 * standalone process and the single-service commands only choose transports
 * and stores.
 */
export function commandServiceModule(stores: CommandStores, logger: Logger) {
  const audit = new CommandAudit(stores.commands);
  const services: ServiceRegistration[] = [registration(CommandService, createCommandServiceImpl(audit, logger))];
  const stopMetrics = exposePendingCommands(audit, logger);
  return {
    audit,
    services,
    routes: routesOf(services),
    /** Stops reading the store for /metrics (call before closing the store). */
    close: async () => stopMetrics(),
  };
}

export interface AgentServiceModuleOptions {
  /** How often to look for gateways whose lease ran out. */
  reapIntervalMs?: number;
  /** Signing of agents' CSRs; without a signer CSRs are refused (and kept). */
  certificates?: { signer: CertificateSigner | undefined; approval: CsrApproval; opampEndpoint: () => string };
  /** Heartbeat interval offered to agents (default: the spec's 30 s; 0: none). */
  heartbeatIntervalSeconds?: number;
  /** Custom capabilities declared to agents (serverCustomCapabilities); default none. */
  customCapabilities?: CustomCapabilities | undefined;
}

export function agentServiceModule(stores: AgentStores, commands: Client<typeof CommandService>, bus: PushBus, logger: Logger, o: AgentServiceModuleOptions = {}) {
  const audit = createConnectCommandAudit(commands, logger);
  const desk = new CertificateDesk({
    requests: stores.certificateRequests,
    signer: o.certificates?.signer,
    approval: o.certificates?.approval ?? "manual",
    opampEndpoint: o.certificates?.opampEndpoint ?? (() => ""),
    logger,
  });
  const agents = new AgentUsecase({
    agents: stores.agents,
    audit,
    push: bus,
    logger,
    certificates: desk,
    ...(o.heartbeatIntervalSeconds !== undefined ? { heartbeatIntervalSeconds: o.heartbeatIntervalSeconds } : {}),
    customCapabilities: o.customCapabilities,
  });
  const connections = new ConnectionUsecase(stores.connections);
  const packages = new PackageRegistry({ packages: stores.packages, offers: agents });
  const leases = new GatewayLeases({ leases: stores.leases, agents, connections: stores.connections, logger });
  leases.start(o.reapIntervalMs ?? 5_000);
  const services: ServiceRegistration[] = [
    registration(AgentService, createAgentServiceImpl(agents, logger)),
    registration(ConnectionService, createConnectionServiceImpl(connections, leases, logger)),
    registration(CertificateService, createCertificateServiceImpl(new CertificateRequestUsecase(desk, agents), logger)),
    registration(PackageService, createPackageServiceImpl(packages, logger)),
  ];
  return {
    agents,
    leases,
    ping: () => stores.agents.ping(),
    /** Stops the reaper, flushes cached agent state and the audit queue (in that order). */
    async close() {
      await leases.stop();
      await agents.close();
      await audit.drain();
    },
    services,
    routes: routesOf(services),
  };
}

/** The ConnectRouter registration of a module's services (for network transports). */
function routesOf(services: ServiceRegistration[]) {
  return (r: ConnectRouter) => {
    for (const { service, impl } of services) r.service(service, impl as never);
  };
}
