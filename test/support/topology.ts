import type { Client } from "@connectrpc/connect";
import type { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import type { CertificateService } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import type { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import type { PackageService } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import type { NamespaceService } from "@fleetplane/gen/fleetplane/fleet/v1/namespace_service_pb";
import type { ConfigurationService } from "@fleetplane/gen/fleetplane/fleet/v1/configuration_service_pb";
import type { GroupService } from "@fleetplane/gen/fleetplane/fleet/v1/group_service_pb";
import type { RolloutService } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_service_pb";
import type { AccessService } from "@fleetplane/gen/fleetplane/access/v1/access_service_pb";
import type { EnrollmentService } from "@fleetplane/gen/fleetplane/agent/v1/enrollment_service_pb";

/** What a behaviour suite needs from a running Fleetplane, whatever its topology. */
export interface TestTopology {
  /** OpAMP over WebSocket and over HTTP (on the first gateway when there are several). */
  wsUrl: string;
  httpUrl: string;
  /** Ids of every gateway in the topology. */
  gatewayIds: string[];
  agents: Client<typeof AgentService>;
  connections: Client<typeof ConnectionService>;
  commands: Client<typeof CommandService>;
  certificates: Client<typeof CertificateService>;
  /** PEM of the CA that signs agents' CSRs, when the topology was given one. */
  caCertPem?: string;
  /** The CSR CA's private key (PEM), to mint client certificates in tests. */
  caKeyPem?: string;
  packages: Client<typeof PackageService>;
  namespaces: Client<typeof NamespaceService>;
  configurations: Client<typeof ConfigurationService>;
  groups: Client<typeof GroupService>;
  rollouts: Client<typeof RolloutService>;
  /** OpAMP URLs of every gateway (the first is wsUrl/httpUrl). */
  opampUrls: Array<{ wsUrl: string; httpUrl: string }>;
  access: Client<typeof AccessService>;
  enrollment: Client<typeof EnrollmentService>;
  /** The enrollment token the simulated agents present (agent-tokens.ts); undefined when the topology asks agents for none. */
  agentToken?: string | undefined;
  /** An admin API key every client above already sends. */
  adminKey: string;
  /** Who the audit trail names for calls with that key: "key:<name>". */
  adminIdentity: string;
  close(): Promise<void>;
}
