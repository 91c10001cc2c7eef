// @fleetplane/agent-service/mongo: the MongoDB adapters of agent-service's
// stores. Its own entry point, imported lazily by the composition, so the
// mongodb driver loads only when --mongo-url is given.
export { createMongoAgentRepository, createMongoConnectionRepository, createMongoGatewayLeaseRepository, ensureAgentIndexes, AGENT_INDEXES, REPLACED_AGENT_INDEXES, type AgentIndex } from "./adapters/mongo-agent-repository.js";
export { createAgentIndexWriter, AGENT_INDEX } from "./adapters/mongo-agent-index.js";
export { createMongoCertificateRequestRepository, ensureCertificateRequestIndexes } from "./adapters/mongo-certificate-request-repository.js";
export { createMongoPackageRepository, ensurePackageIndexes } from "./adapters/mongo-package-repository.js";
export { createMongoConfigurationRepository, createMongoGroupRepository, createMongoNamespaceRepository, ensureFleetIndexes } from "./adapters/mongo-fleet-repositories.js";
export { createMongoRolloutLeaseRepository, createMongoRolloutRepository, ensureRolloutIndexes } from "./adapters/mongo-rollout-repositories.js";
export { createMongoEnrollmentTokenRepository, ensureEnrollmentIndexes } from "./adapters/mongo-enrollment-token-repository.js";
