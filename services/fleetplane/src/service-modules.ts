import type { Client, ConnectRouter } from "@connectrpc/connect";
import { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CertificateService } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { CommandRecorderService } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import {
  createCertificateServiceImpl,
  CertificateDesk,
  type CsrApproval,
  CertificateRequestUsecase,
  type CertificateSigner,
  createConnectCommandAudit,
  countAuditLoss,
  exposeAuditQueue,
  createAgentServiceImpl,
  createAgentGatewayServiceImpl,
  createConnectionServiceImpl,
  AdminCommands,
  AgentReports,
  AgentRetention,
  exposeAgentMetrics,
  AgentStore,
  ConnectionUsecase,
  GatewayLeases,
  PackageRegistry,
  createPackageServiceImpl,
  Namespaces,
  Configurations,
  Groups,
  GroupCatalog,
  GroupStatusBook,
  createNamespaceServiceImpl,
  createConfigurationServiceImpl,
  createGroupServiceImpl,
  listenForReplicaChanges,
  replicaNoticesOver,
  Rollouts,
  RolloutDecisions,
  rolloutUnderWay,
  RolloutDriver,
  PinRouting,
  VersionFileCache,
  createRolloutServiceImpl,
  EnrollmentTokens,
  AgentCredentialCheck,
  createEnrollmentServiceImpl,
} from "@fleetplane/agent-service";
import { RolloutService } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_service_pb";
import { randomUUID } from "node:crypto";
import { EnrollmentService } from "@fleetplane/gen/fleetplane/agent/v1/enrollment_service_pb";
import { NamespaceService } from "@fleetplane/gen/fleetplane/fleet/v1/namespace_service_pb";
import { ConfigurationService } from "@fleetplane/gen/fleetplane/fleet/v1/configuration_service_pb";
import { GroupService } from "@fleetplane/gen/fleetplane/fleet/v1/group_service_pb";
import type { CustomCapabilities } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { PackageService } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { createCommandServiceImpl, createCommandRecorderImpl, CommandAudit, exposePendingCommands } from "@fleetplane/command-service";
import { registration, type ServiceRegistration } from "@fleetplane/platform-node";
import type { Logger, PushBus } from "@fleetplane/platform";
import type { AgentStores, CommandStores } from "./stores.js";

/**
 * Each service assembled once, from its store and the clients it needs; the
 * standalone process and the single-service commands only choose transports
 * and stores.
 */
export function commandServiceModule(stores: CommandStores, logger: Logger) {
  const audit = new CommandAudit(stores.commands);
  const services: ServiceRegistration[] = [registration(CommandService, createCommandServiceImpl(audit, logger))];
  const internal: ServiceRegistration[] = [registration(CommandRecorderService, createCommandRecorderImpl(audit, logger))];
  const stopMetrics = exposePendingCommands(audit, logger);
  return {
    audit,
    /** The admin API (ListCommands). */
    services,
    routes: routesOf(services),
    /** What agent-service calls (RecordCommand, UpdateCommandState): in process, or on the internal listener. */
    internal,
    internalRoutes: routesOf(internal),
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
  /** How often rollouts are driven and watched (default 1 s). */
  rolloutTickMs?: number;
  /** How long a replica's lease on a rollout lasts unrenewed (default 15 s): a dead replica's rollouts wait this long. */
  rolloutLeaseMs?: number;
  /**
   * This replica's name in rollout leases. Default: new on every start, so a
   * restarted replica waits out its old leases like any other; a single
   * replica (standalone) keeps one name and resumes at once.
   */
  replicaId?: string;
  /** Agents disconnected longer than this are removed (default 30 days; 0: kept forever). */
  agentRetentionMs?: number;
  /**
   * How old group status counts may grow before a read counts the namespace
   * again from the store (default 5 s): the longest a change stored by
   * another replica stays unseen. Infinity for a single replica (standalone).
   */
  groupStatusMaxAgeMs?: number;
}

/** The default of --agent-retention: 30 days. */
const DEFAULT_AGENT_RETENTION_MS = 30 * 86_400_000;

export function agentServiceModule(stores: AgentStores, commands: Client<typeof CommandRecorderService>, bus: PushBus, logger: Logger, o: AgentServiceModuleOptions = {}) {
  // Records and state changes go to command-service in batches (audit-batches.ts).
  const audit = createConnectCommandAudit(commands, logger, { lost: countAuditLoss });
  const stopAuditMetric = exposeAuditQueue(() => audit.queued);
  const desk = new CertificateDesk({
    requests: stores.certificateRequests,
    signer: o.certificates?.signer,
    approval: o.certificates?.approval ?? "manual",
    opampEndpoint: o.certificates?.opampEndpoint ?? (() => ""),
    logger,
  });
  // The agents' side in three parts: the store (cache, lock, writes,
  // watchers), the report path the gateways call, and the admin commands.
  const store = new AgentStore({ agents: stores.agents, audit, logger });
  // Each replica's copy of the groups, checked against the store's groups
  // revision whenever an agent is new or re-described (group-catalog.ts).
  const catalog = new GroupCatalog({ groups: stores.groups, configurations: stores.configurations, packages: stores.packages, logger });
  const namespaces = new Namespaces({ namespaces: stores.namespaces, agents: stores.agents, groups: stores.groups, configurations: stores.configurations, audit });
  const requireNamespace = (ns: string) => namespaces.require(ns);
  const enrollment = new EnrollmentTokens({ tokens: stores.enrollmentTokens, requireNamespace, logger });
  const reports = new AgentReports({
    store,
    logger,
    groups: catalog,
    enrollment,
    certificates: desk,
    ...(o.heartbeatIntervalSeconds !== undefined ? { heartbeatIntervalSeconds: o.heartbeatIntervalSeconds } : {}),
    customCapabilities: o.customCapabilities,
  });
  const replicas = replicaNoticesOver(bus);
  const metrics = exposeAgentMetrics(stores.agents, logger);
  // Group status counts follow the agents this replica stores; changes other
  // replicas store are seen by a recount at most groupStatusMaxAgeMs later.
  const statusBook = new GroupStatusBook({
    agents: stores.agents,
    groups: async (ns) => {
      const snapshot = await catalog.snapshot(ns);
      return { revision: snapshot.revision, groups: snapshot.groups.map((g) => g.group) };
    },
    ...(o.groupStatusMaxAgeMs !== undefined ? { maxAgeMs: o.groupStatusMaxAgeMs } : {}),
    logger,
  });
  const stopStatusBook = store.observe((agent) => statusBook.agentChanged(agent));
  const adminCommands = new AdminCommands({
    store,
    audit,
    push: bus,
    opampEndpoint: () => desk.opampEndpoint,
    groups: catalog,
    replicas,
    removed: (reason, uid) => {
      metrics.removed(reason);
      statusBook.agentRemoved(uid);
    },
    reconcile: (uid) => reports.reconcileLater(uid),
  });
  const retention = new AgentRetention({ store, commands: adminCommands, retentionMs: o.agentRetentionMs ?? DEFAULT_AGENT_RETENTION_MS, logger });
  retention.start();
  const configurations = new Configurations({ configurations: stores.configurations, groups: stores.groups, audit, requireNamespace });
  const groups = new Groups({
    groups: stores.groups,
    catalog,
    configurations,
    packages: stores.packages,
    agents: store,
    status: statusBook,
    reassign: (uid, snapshot) => adminCommands.reassign(uid, snapshot),
    rolloutUnderWay: (namespace, group) => rolloutUnderWay(stores.rollouts, namespace, group),
    requireNamespace,
    audit,
    logger,
  });
  // Rollouts: decisions stored once (insert under a unique key), driven by
  // the replica holding each rollout's lease (rollouts/rollout-driver.ts).
  // The pid in the name lets an operator (and the failover test) tell which process leads.
  const replicaId = o.replicaId ?? `agent-service-${process.pid}-${randomUUID().slice(0, 8)}`;
  const decisions = new RolloutDecisions({ rollouts: stores.rollouts, audit, replicaId, now: Date.now });
  // A pin is written by the replica serving the agent (its one writer); see rollouts/pin-routing.ts.
  const pins = new PinRouting({
    bus,
    serves: (uid) => store.serves(uid),
    storedMany: (uids) => stores.agents.list({ instanceUids: uids, limit: uids.length }),
    pin: (uid, namespace, pin, requestedBy) => adminCommands.pinRollout(uid, namespace, pin, requestedBy),
    pinMany: (uids, namespace, pin, requestedBy) => adminCommands.pinRollouts(uids, namespace, pin, requestedBy),
    versions: new VersionFileCache(configurations),
    logger,
  });
  const pinRequests = pins.listen();
  const driver = new RolloutDriver({
    rollouts: stores.rollouts,
    leases: stores.rolloutLeases,
    decisions,
    groups,
    configurations,
    // The store itself, not the cache: another replica may serve the agents
    // (this one caches those it pins, and its copies would not see their reports).
    agents: stores.agents,
    pin: (uids, namespace, pin, requestedBy, o) => pins.pinMany(uids, namespace, pin, requestedBy, o),
    // Not for an agent whose copy here already holds what the store does (this replica serves it and
    // wrote its pin): telling every replica would only make this one read it again, thousands of times a stage.
    remind: async (uid, connectionId, storedRevision) => {
      if (!store.seesRevision(uid, storedRevision)) await replicas.changed(uid, connectionId);
    },
    logger,
    replicaId,
    ...(o.rolloutLeaseMs ? { leaseMs: o.rolloutLeaseMs } : {}),
  });
  const rollouts = new Rollouts({ rollouts: stores.rollouts, decisions, groups, configurations, agents: stores.agents, nudge: () => driver.nudge() });
  driver.start(o.rolloutTickMs ?? 1_000);
  const connections = new ConnectionUsecase(stores.connections);
  const packages = new PackageRegistry({ packages: stores.packages, offers: adminCommands, requireNamespace });
  const leases = new GatewayLeases({ leases: stores.leases, agents: store, reports, connections: stores.connections, logger });
  leases.start(o.reapIntervalMs ?? 5_000);
  const replicaChanges = listenForReplicaChanges(bus, store, logger);
  const services: ServiceRegistration[] = [
    registration(AgentService, createAgentServiceImpl({ store, commands: adminCommands }, logger)),
    registration(ConnectionService, createConnectionServiceImpl(connections, logger)),
    registration(CertificateService, createCertificateServiceImpl(new CertificateRequestUsecase(desk, adminCommands), logger)),
    registration(PackageService, createPackageServiceImpl(packages, logger)),
    registration(NamespaceService, createNamespaceServiceImpl(namespaces, logger)),
    registration(ConfigurationService, createConfigurationServiceImpl(configurations, logger)),
    registration(GroupService, createGroupServiceImpl(groups, logger)),
    registration(RolloutService, createRolloutServiceImpl(rollouts, logger, { watchIntervalMs: Math.min(o.rolloutTickMs ?? 500, 500) })),
    registration(EnrollmentService, createEnrollmentServiceImpl(enrollment, logger)),
  ];
  const internal: ServiceRegistration[] = [registration(AgentGatewayService, createAgentGatewayServiceImpl({ reports, connections, leases, credentials: new AgentCredentialCheck({ tokens: enrollment, certificates: desk }) }, logger))];
  return {
    agents: store,
    leases,
    ping: () => stores.agents.ping(),
    /** Stops driving rollouts (before agents are disconnected by a shutdown); close() does it too. */
    stopRollouts: () => driver.stop(),
    /** Stops the reaper, retention and the audit reconciliations, flushes cached agent state and the audit queue (in that order). */
    async close() {
      await (await replicaChanges).unsubscribe();
      await (await pinRequests).unsubscribe();
      await driver.stop();
      await leases.stop();
      await retention.stop();
      metrics.stop();
      stopStatusBook();
      await reports.close();
      await store.close();
      await audit.drain();
      stopAuditMetric();
    },
    /** The admin API. */
    services,
    routes: routesOf(services),
    /** What gateways call: in process, or on the internal listener. */
    internal,
    internalRoutes: routesOf(internal),
  };
}

/** The ConnectRouter registration of a module's services (for network transports). */
function routesOf(services: ServiceRegistration[]) {
  return (r: ConnectRouter) => {
    for (const { service, impl } of services) r.service(service, impl as never);
  };
}
