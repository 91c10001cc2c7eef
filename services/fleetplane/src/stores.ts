import {
  type AgentRepository,
  type ConnectionRepository,
  type GatewayLeaseRepository,
  createLmdbAgentRepository,
  createLmdbConnectionRepository,
  createLmdbGatewayLeaseRepository,
  type CertificateRequestRepository,
  createLmdbCertificateRequestRepository,
  type PackageRepository,
  createLmdbPackageRepository,
  type NamespaceRepository,
  type ConfigurationRepository,
  type GroupRepository,
  createLmdbNamespaceRepository,
  createLmdbConfigurationRepository,
  createLmdbGroupRepository,
  type RolloutRepository,
  type RolloutLeaseRepository,
  createLmdbRolloutRepository,
  createLmdbRolloutLeaseRepository,
  type EnrollmentTokenRepository,
  createLmdbEnrollmentTokenRepository,
} from "@fleetplane/agent-service";
import { type CommandRepository, createLmdbCommandRepository } from "@fleetplane/command-service";
import { type AccessRepository, createLmdbAccessRepository } from "@fleetplane/access";
import { timed } from "@fleetplane/platform-node";
import { openEmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import type { Logger } from "@fleetplane/platform";

export interface AgentStores {
  agents: AgentRepository;
  connections: ConnectionRepository;
  leases: GatewayLeaseRepository;
  certificateRequests: CertificateRequestRepository;
  /** The package registry. */
  packages: PackageRepository;
  namespaces: NamespaceRepository;
  configurations: ConfigurationRepository;
  groups: GroupRepository;
  rollouts: RolloutRepository;
  rolloutLeases: RolloutLeaseRepository;
  enrollmentTokens: EnrollmentTokenRepository;
}

export interface CommandStores {
  commands: CommandRepository;
}

/** Where a process keeps its data: the embedded store in a directory, or MongoDB at a URL. */
export interface StoreChoice {
  dataDir: string;
  /** When set, MongoDB (or a MongoDB-wire server) holds everything instead of the embedded store. */
  mongoUrl?: string | undefined;
  logger: Logger;
}

export interface AccessStores {
  /** API keys, role bindings, refused calls. */
  access: AccessRepository;
}

export interface OpenStores extends AgentStores, CommandStores, AccessStores {
  kind: "embedded" | "mongodb";
  close(): Promise<void>;
}

/**
 * Opens the chosen store once per process. With MongoDB the indexes are
 * created here, at start-up, so queries never run unindexed. The MongoDB
 * driver is loaded only when used, so standalone starts without it.
 */
export async function openStores(o: StoreChoice): Promise<OpenStores> {
  if (o.mongoUrl) {
    const { connectMongo } = await import("@fleetplane/platform-node/mongo");
    const {
      createMongoAgentRepository,
      createMongoConnectionRepository,
      createMongoGatewayLeaseRepository,
      ensureAgentIndexes,
      createMongoCertificateRequestRepository,
      ensureCertificateRequestIndexes,
      createMongoPackageRepository,
      ensurePackageIndexes,
      createMongoNamespaceRepository,
      createMongoConfigurationRepository,
      createMongoGroupRepository,
      ensureFleetIndexes,
      createMongoRolloutRepository,
      createMongoRolloutLeaseRepository,
      ensureRolloutIndexes,
      createMongoEnrollmentTokenRepository,
      ensureEnrollmentIndexes,
    } = await import("@fleetplane/agent-service/mongo");
    const { createMongoCommandRepository, ensureCommandIndexes } = await import("@fleetplane/command-service/mongo");
    const { createMongoAccessRepository, ensureAccessIndexes } = await import("@fleetplane/access/mongo");
    const mongo = await connectMongo(o.mongoUrl, { logger: o.logger });
    await ensureAgentIndexes(mongo.db, { server: mongo.server, logger: o.logger });
    await ensureCommandIndexes(mongo.db, { server: mongo.server });
    await ensureCertificateRequestIndexes(mongo.db);
    await ensurePackageIndexes(mongo.db);
    await ensureFleetIndexes(mongo.db);
    await ensureRolloutIndexes(mongo.db);
    await ensureEnrollmentIndexes(mongo.db);
    await ensureAccessIndexes(mongo.db);
    return {
      kind: "mongodb",
      agents: timed(createMongoAgentRepository(mongo.db, { server: mongo.server, logger: o.logger }), "mongodb", "agents"),
      connections: timed(createMongoConnectionRepository(mongo.db), "mongodb", "connections"),
      leases: timed(createMongoGatewayLeaseRepository(mongo.db), "mongodb", "gateway_leases"),
      certificateRequests: timed(createMongoCertificateRequestRepository(mongo.db), "mongodb", "certificate_requests"),
      packages: timed(createMongoPackageRepository(mongo.db), "mongodb", "packages"),
      namespaces: timed(createMongoNamespaceRepository(mongo.db), "mongodb", "namespaces"),
      configurations: timed(createMongoConfigurationRepository(mongo.db), "mongodb", "configurations"),
      groups: timed(createMongoGroupRepository(mongo.db), "mongodb", "groups"),
      rollouts: timed(createMongoRolloutRepository(mongo.db), "mongodb", "rollouts"),
      rolloutLeases: timed(createMongoRolloutLeaseRepository(mongo.db), "mongodb", "rollout_leases"),
      enrollmentTokens: timed(createMongoEnrollmentTokenRepository(mongo.db), "mongodb", "enrollment_tokens"),
      commands: timed(createMongoCommandRepository(mongo.db, { server: mongo.server }), "mongodb", "commands"),
      access: timed(createMongoAccessRepository(mongo.db), "mongodb", "access"),
      close: () => mongo.close(),
    };
  }
  const store = openEmbeddedStore(o.dataDir);
  return {
    kind: "embedded",
    agents: timed(createLmdbAgentRepository(store), "embedded", "agents"),
    connections: timed(createLmdbConnectionRepository(store), "embedded", "connections"),
    leases: timed(createLmdbGatewayLeaseRepository(store), "embedded", "gateway_leases"),
    certificateRequests: timed(createLmdbCertificateRequestRepository(store), "embedded", "certificate_requests"),
    packages: timed(createLmdbPackageRepository(store), "embedded", "packages"),
    namespaces: timed(createLmdbNamespaceRepository(store), "embedded", "namespaces"),
    configurations: timed(createLmdbConfigurationRepository(store), "embedded", "configurations"),
    groups: timed(createLmdbGroupRepository(store), "embedded", "groups"),
    rollouts: timed(createLmdbRolloutRepository(store), "embedded", "rollouts"),
    rolloutLeases: timed(createLmdbRolloutLeaseRepository(store), "embedded", "rollout_leases"),
    enrollmentTokens: timed(createLmdbEnrollmentTokenRepository(store), "embedded", "enrollment_tokens"),
    commands: timed(createLmdbCommandRepository(store), "embedded", "commands"),
    access: timed(createLmdbAccessRepository(store), "embedded", "access"),
    close: () => store.close(),
  };
}
