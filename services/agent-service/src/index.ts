// @fleetplane/agent-service: the agents' side of the control plane, room by
// room — what a process composes it from, the ports its stores and signer
// implement, and the embedded (LMDB) adapters. The MongoDB adapters are at
// "@fleetplane/agent-service/mongo", so the driver loads only when used.

// agents/: the aggregate, kept by the agent store, changed by reports and admin commands.
export { AgentStore, type AgentStoreOptions } from "./agents/agent-store.js";
export { AgentReports, type AgentReportsOptions, type ReportReply } from "./agents/agent-reports.js";
export { REPLICAS_CHANNEL, listenForReplicaChanges, replicaNoticesOver, type ReplicaNotices } from "./agents/replica-notices.js";
export { AdminCommands, type AdminCommandsOptions, type AgentRemovalReason, type ChangeResult, type CommandResult } from "./agents/admin-commands.js";
export { AgentRetention, RETENTION_REQUESTER, type AgentRetentionOptions } from "./agents/agent-retention.js";
export { RevisionConflictError, type AgentQuery, type AgentRepository, type DisconnectedCursor, type DisconnectedQuery } from "./agents/agent-repository.js";
export { MAX_AGENT_TYPES } from "./agents/fleet-summary.js";
export type { AuditedChange, AuditedCommand, CommandAuditPort } from "./agents/command-audit-port.js";
export { InvalidCustomCapabilityError, serverCustomCapabilities } from "./agents/server-custom-capabilities.js";

// fleet/: namespaces, configurations with versions, groups by selector, and the group catalog.
export { Namespaces, type NamespacesOptions } from "./fleet/namespaces.js";
export { Configurations, type ConfigurationsOptions } from "./fleet/configurations.js";
export { Groups, type GroupsOptions } from "./fleet/groups.js";
export { GroupCatalog, type GroupSnapshot } from "./fleet/group-catalog.js";
export { GroupStatusBook, type GroupStatusBookOptions } from "./fleet/group-status-book.js";
export { DEFAULT_NAMESPACE, resourceNameProblem } from "./fleet/resource-names.js";
// The rules clients check before they call (fleetplane apply validates its files with them).
export { validateSelector } from "./fleet/label-selector.js";
export { InvalidRequestError } from "./agents/agent-errors.js";
export { namespaceOfNewAgent } from "./agents/agent-namespace.js";
export type { NamespaceRepository } from "./fleet/namespace-repository.js";
export { ConfigurationVersionConflictError, type ConfigurationRepository } from "./fleet/configuration-repository.js";
export type { GroupRepository } from "./fleet/group-repository.js";

// rollouts/: staged rollouts of a group's versions, the health gate, preflight, and the driver.
export { Rollouts, type RolloutsOptions } from "./rollouts/rollouts.js";
export { RolloutDecisions, rolloutUnderWay } from "./rollouts/rollout-decisions.js";
export { RolloutDriver, type RolloutDriverOptions } from "./rollouts/rollout-driver.js";
export { PinRouting, ROLLOUT_PIN_BATCHES_CHANNEL, ROLLOUT_PINS_CHANNEL, type PinRoutingOptions } from "./rollouts/pin-routing.js";
export { VersionFileCache } from "./rollouts/version-files.js";
export type { RolloutLease, RolloutLeaseRepository, RolloutRepository } from "./rollouts/rollout-repository.js";

// certificates/: agents' CSRs, the decision on them, and the signer port.
export { CertificateDesk, type CertificateDeskOptions, type CsrApproval } from "./certificates/certificate-desk.js";
export { CertificateRequestUsecase, type CertificateOffers } from "./certificates/certificate-requests.js";
export type { CertificateRequestRepository } from "./certificates/certificate-request-repository.js";
export { MalformedCsrError, type CertificateSigner, type InspectedCsr, type IssuedCertificate } from "./certificates/certificate-signer.js";
export { csrIdentityProblem, instanceUidNamedBy, uuidText } from "./certificates/csr-identity.js";

// enrollment/: the tokens agents authenticate with, and the binding of instance UIDs to credentials.
export { EnrollmentTokens, type EnrollmentTokensOptions, type Enrollment, tokenCredential, tokenIdOf } from "./enrollment/enrollment-tokens.js";
export type { EnrollmentTokenRepository } from "./enrollment/enrollment-token-repository.js";
export { AgentCredentialRefusedError, EnrollmentTokenNotFoundError } from "./enrollment/enrollment-errors.js";
export { AgentCredentialCheck, type PresentedCredential } from "./enrollment/agent-credential-check.js";
export { bindingRefusal, certificateCredential } from "./enrollment/credential-binding.js";

// packages/: the package registry.
export { PackageRegistry, type PackageDefinition, type PackageOfferPort } from "./packages/package-registry.js";
export type { PackageKey, PackageQuery, PackageRepository } from "./packages/package-repository.js";

// connections/: who is connected where, and the gateways' leases.
export { ConnectionUsecase } from "./connections/connection-usecase.js";
export { GatewayLeases } from "./connections/gateway-leases.js";
export type { ConnectionRepository } from "./connections/connection-store.js";
export type { GatewayLeaseRepository } from "./connections/gateway-lease-store.js";

// api/: the Connect handlers.
export { createAgentServiceImpl, type AgentServiceParts } from "./api/agent-service-handler.js";
export { createAgentGatewayServiceImpl, type AgentGatewayParts, MAX_REPORTS_PER_BATCH } from "./api/agent-gateway-service-handler.js";
export { createConnectionServiceImpl } from "./api/connection-service-handler.js";
export { createCertificateServiceImpl } from "./api/certificate-service-handler.js";
export { createPackageServiceImpl } from "./api/package-service-handler.js";
export { createNamespaceServiceImpl } from "./api/namespace-service-handler.js";
export { createConfigurationServiceImpl } from "./api/configuration-service-handler.js";
export { createGroupServiceImpl } from "./api/group-service-handler.js";
export { createRolloutServiceImpl, type RolloutServiceOptions } from "./api/rollout-service-handler.js";
export { createEnrollmentServiceImpl } from "./api/enrollment-service-handler.js";

// adapters/: the embedded store, the command audit over Connect, the agents' metrics, the X.509 signer.
export { createLmdbAgentRepository, createLmdbConnectionRepository, createLmdbGatewayLeaseRepository } from "./adapters/lmdb-agent-repository.js";
export { createLmdbCertificateRequestRepository } from "./adapters/lmdb-certificate-request-repository.js";
export { createLmdbPackageRepository } from "./adapters/lmdb-package-repository.js";
export { createLmdbConfigurationRepository, createLmdbGroupRepository, createLmdbNamespaceRepository } from "./adapters/lmdb-fleet-repositories.js";
export { createLmdbRolloutLeaseRepository, createLmdbRolloutRepository } from "./adapters/lmdb-rollout-repositories.js";
export { createLmdbEnrollmentTokenRepository } from "./adapters/lmdb-enrollment-token-repository.js";
export { createConnectCommandAudit } from "./adapters/connect-command-audit.js";
export { exposeAgentMetrics } from "./adapters/prometheus-agent-metrics.js";
export { countAuditLoss, exposeAuditQueue } from "./adapters/prometheus-audit-metrics.js";
export { CertificateAuthorityConfigError, createX509CertificateSigner, generateCertificateAuthority, type CertificateAuthorityFiles } from "./adapters/x509-certificate-signer.js";
