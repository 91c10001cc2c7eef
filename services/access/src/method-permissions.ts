/**
 * The one table of what each RPC needs. The admin API's interceptor looks
 * every call up here and nothing else decides; a method missing from the
 * table is refused (and fails the test that walks every generated service).
 *
 * - `read`: see agents, connections, commands, packages, certificate requests —
 *   never configuration bodies or secrets.
 * - `read-secrets`: `read`, plus configuration bodies and offered settings.
 * - `operate`: change what agents run (configurations, commands, offers, labels,
 *   groups, rollouts).
 * - `administer`: keys, tokens, certificates, packages, namespaces, role bindings.
 * - `internal`: gateway ↔ agent-service ↔ command-service only; never served on
 *   the admin API nor listed by its reflection.
 */
export type Permission = "read" | "read-secrets" | "operate" | "administer";
export type MethodRule = Permission | "internal";

/** Fully qualified `package.Service/Method` → the rule. */
export const METHOD_RULES: Readonly<Record<string, MethodRule>> = {
  // AgentService: the gateway's report path is internal; the rest is the admin API.
  "fleetplane.agent.v1.AgentService/ReportMessage": "internal",
  "fleetplane.agent.v1.AgentService/ReportMessages": "internal",
  "fleetplane.agent.v1.AgentService/PullServerToAgent": "internal",
  "fleetplane.agent.v1.AgentService/MarkDisconnected": "internal",
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
  // ConnectionService: gateways keep their connections and leases; admins may look.
  "fleetplane.agent.v1.ConnectionService/SaveConnection": "internal",
  "fleetplane.agent.v1.ConnectionService/DeleteConnection": "internal",
  "fleetplane.agent.v1.ConnectionService/RenewGatewayLease": "internal",
  "fleetplane.agent.v1.ConnectionService/ReleaseGatewayLease": "internal",
  "fleetplane.agent.v1.ConnectionService/GetConnection": "read",
  "fleetplane.agent.v1.ConnectionService/ListConnections": "read",
  // CommandService: agent-service writes the audit trail; admins read it.
  "fleetplane.command.v1.CommandService/RecordCommand": "internal",
  "fleetplane.command.v1.CommandService/UpdateCommandState": "internal",
  "fleetplane.command.v1.CommandService/ListCommands": "read",
  // CertificateService
  "fleetplane.certificate.v1.CertificateService/ListCertificateRequests": "read",
  "fleetplane.certificate.v1.CertificateService/ApproveCertificateRequest": "administer",
  "fleetplane.certificate.v1.CertificateService/DenyCertificateRequest": "administer",
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
};

/** The rule for a method, or undefined when the table does not name it (refuse it). */
export function ruleOf(method: string): MethodRule | undefined {
  return Object.hasOwn(METHOD_RULES, method) ? METHOD_RULES[method] : undefined;
}
