/**
 * The one table of what each RPC needs. The admin API's interceptor
 * (admin-auth-interceptor.ts) looks every call up here and nothing else
 * decides; a method missing from the table is refused (and fails the test
 * that walks every generated service).
 *
 * - `open`: no credential (gRPC health, for load balancers).
 * - `authenticated`: any valid credential, whatever its roles (WhoAmI: the console asks it first).
 * - `read`: see agents, connections, commands, packages, certificate requests —
 *   never configuration bodies or secrets.
 * - `read-secrets`: `read`, plus configuration bodies and offered settings.
 * - `operate`: change what agents run (configurations, commands, offers, labels,
 *   groups, rollouts).
 * - `administer`: keys, tokens, certificates, packages, namespaces, role bindings.
 * - `internal`: gateway ↔ agent-service ↔ command-service only
 *   (AgentGatewayService, CommandRecorderService); never served on the admin
 *   API nor listed by its reflection — refused there if ever asked.
 */
export type Permission = "read" | "read-secrets" | "operate" | "administer";
export type MethodRule = Permission | "open" | "authenticated" | "internal";

/** Fully qualified `package.Service/Method` → the rule. */
export const METHOD_RULES: Readonly<Record<string, MethodRule>> = {
  // AgentService: the admin API over agents.
  "fleetplane.agent.v1.AgentService/GetAgent": "read",
  "fleetplane.agent.v1.AgentService/ListAgents": "read",
  "fleetplane.agent.v1.AgentService/GetFleetSummary": "read",
  "fleetplane.agent.v1.AgentService/WatchAgents": "read",
  "fleetplane.agent.v1.AgentService/SetRemoteConfig": "operate",
  "fleetplane.agent.v1.AgentService/SendCommand": "operate",
  "fleetplane.agent.v1.AgentService/SetConnectionSettings": "operate",
  "fleetplane.agent.v1.AgentService/SetPackagesAvailable": "operate",
  "fleetplane.agent.v1.AgentService/SendCustomMessage": "operate",
  "fleetplane.agent.v1.AgentService/SetAgentLabels": "operate",
  "fleetplane.agent.v1.AgentService/ClearRemoteConfig": "operate",
  "fleetplane.agent.v1.AgentService/DeleteAgent": "operate",
  // ConnectionService: admins may look.
  "fleetplane.agent.v1.ConnectionService/GetConnection": "read",
  "fleetplane.agent.v1.ConnectionService/ListConnections": "read",
  // AgentGatewayService: what gateways call on agent-service.
  "fleetplane.agent.v1.AgentGatewayService/ReportMessage": "internal",
  "fleetplane.agent.v1.AgentGatewayService/ReportMessages": "internal",
  "fleetplane.agent.v1.AgentGatewayService/PullServerToAgent": "internal",
  "fleetplane.agent.v1.AgentGatewayService/PullServerToAgents": "internal",
  "fleetplane.agent.v1.AgentGatewayService/MarkDisconnected": "internal",
  "fleetplane.agent.v1.AgentGatewayService/SaveConnection": "internal",
  "fleetplane.agent.v1.AgentGatewayService/DeleteConnection": "internal",
  "fleetplane.agent.v1.AgentGatewayService/RenewGatewayLease": "internal",
  "fleetplane.agent.v1.AgentGatewayService/ReleaseGatewayLease": "internal",
  "fleetplane.agent.v1.AgentGatewayService/AuthenticateAgent": "internal",
  // EnrollmentService: agents' tokens are admin work.
  "fleetplane.agent.v1.EnrollmentService/CreateEnrollmentToken": "administer",
  "fleetplane.agent.v1.EnrollmentService/ListEnrollmentTokens": "administer",
  "fleetplane.agent.v1.EnrollmentService/RevokeEnrollmentToken": "administer",
  // CommandService: admins read the audit trail; agent-service writes it through CommandRecorderService.
  "fleetplane.command.v1.CommandService/ListCommands": "read",
  "fleetplane.command.v1.CommandRecorderService/RecordCommand": "internal",
  "fleetplane.command.v1.CommandRecorderService/UpdateCommandState": "internal",
  "fleetplane.command.v1.CommandRecorderService/ListAgentCommands": "internal",
  "fleetplane.command.v1.CommandRecorderService/WriteAuditBatch": "internal",
  // CertificateService
  "fleetplane.certificate.v1.CertificateService/ListCertificateRequests": "read",
  "fleetplane.certificate.v1.CertificateService/ApproveCertificateRequest": "administer",
  "fleetplane.certificate.v1.CertificateService/DenyCertificateRequest": "administer",
  "fleetplane.certificate.v1.CertificateService/RevokeCertificate": "administer",
  // PackageService: the registry is admin work; offering a registered package to an agent is an operation.
  "fleetplane.package.v1.PackageService/RegisterPackage": "administer",
  "fleetplane.package.v1.PackageService/DeletePackage": "administer",
  "fleetplane.package.v1.PackageService/GetPackage": "read",
  "fleetplane.package.v1.PackageService/ListPackages": "read",
  "fleetplane.package.v1.PackageService/OfferPackages": "operate",
  // NamespaceService: namespaces are admin work.
  "fleetplane.fleet.v1.NamespaceService/CreateNamespace": "administer",
  "fleetplane.fleet.v1.NamespaceService/DeleteNamespace": "administer",
  "fleetplane.fleet.v1.NamespaceService/GetNamespace": "read",
  "fleetplane.fleet.v1.NamespaceService/ListNamespaces": "read",
  // ConfigurationService: what returns file bodies needs read-secrets.
  "fleetplane.fleet.v1.ConfigurationService/CreateConfiguration": "operate",
  "fleetplane.fleet.v1.ConfigurationService/CreateConfigurationVersion": "operate",
  "fleetplane.fleet.v1.ConfigurationService/DeleteConfiguration": "operate",
  "fleetplane.fleet.v1.ConfigurationService/GetConfiguration": "read",
  "fleetplane.fleet.v1.ConfigurationService/ListConfigurations": "read",
  "fleetplane.fleet.v1.ConfigurationService/ListConfigurationVersions": "read",
  "fleetplane.fleet.v1.ConfigurationService/GetConfigurationVersion": "read-secrets",
  "fleetplane.fleet.v1.ConfigurationService/DiffConfigurationVersions": "read-secrets",
  // GroupService: groups decide what agents run.
  "fleetplane.fleet.v1.GroupService/CreateGroup": "operate",
  "fleetplane.fleet.v1.GroupService/UpdateGroup": "operate",
  "fleetplane.fleet.v1.GroupService/DeleteGroup": "operate",
  "fleetplane.fleet.v1.GroupService/GetGroup": "read",
  "fleetplane.fleet.v1.GroupService/ListGroups": "read",
  // RolloutService: moving a group's agents to another version is an operation; watching it is a read.
  "fleetplane.fleet.v1.RolloutService/StartRollout": "operate",
  "fleetplane.fleet.v1.RolloutService/PauseRollout": "operate",
  "fleetplane.fleet.v1.RolloutService/ResumeRollout": "operate",
  "fleetplane.fleet.v1.RolloutService/AbortRollout": "operate",
  "fleetplane.fleet.v1.RolloutService/RollbackRollout": "operate",
  "fleetplane.fleet.v1.RolloutService/GetRollout": "read",
  "fleetplane.fleet.v1.RolloutService/ListRollouts": "read",
  "fleetplane.fleet.v1.RolloutService/WatchRollouts": "read",
  "fleetplane.fleet.v1.RolloutService/Preflight": "read",
  // A plan: changes nothing (but validates what would change).
  "fleetplane.fleet.v1.GroupService/PreviewGroup": "read",
  // AccessService: keys and bindings are admin work; anyone signed in may ask who they are.
  "fleetplane.access.v1.AccessService/CreateApiKey": "administer",
  "fleetplane.access.v1.AccessService/ListApiKeys": "administer",
  "fleetplane.access.v1.AccessService/RevokeApiKey": "administer",
  "fleetplane.access.v1.AccessService/CreateRoleBinding": "administer",
  "fleetplane.access.v1.AccessService/ListRoleBindings": "administer",
  "fleetplane.access.v1.AccessService/DeleteRoleBinding": "administer",
  "fleetplane.access.v1.AccessService/ListAccessEvents": "administer",
  "fleetplane.access.v1.AccessService/WhoAmI": "authenticated",
  // Served by every admin port: reflection describes the API (to those who may read it); health is for load balancers.
  "grpc.reflection.v1.ServerReflection/ServerReflectionInfo": "read",
  "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": "read",
  "grpc.health.v1.Health/Check": "open",
  "grpc.health.v1.Health/Watch": "open",
};

/** The rule for a method, or undefined when the table does not name it (refuse it). */
export function ruleOf(method: string): MethodRule | undefined {
  return Object.hasOwn(METHOD_RULES, method) ? METHOD_RULES[method] : undefined;
}

/** Whether a rule changes something (refusals of these are audited). */
export function isMutation(rule: MethodRule | undefined): boolean {
  return rule === "operate" || rule === "administer";
}
