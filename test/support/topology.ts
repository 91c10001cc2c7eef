import type { Client } from "@connectrpc/connect";
import type { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import type { CertificateService } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import type { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import type { PackageService } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import type { AccessService } from "@fleetplane/gen/fleetplane/access/v1/access_service_pb";

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
  packages: Client<typeof PackageService>;
  access: Client<typeof AccessService>;
  /** An admin API key every client above already sends. */
  adminKey: string;
  /** Who the audit trail names for calls with that key: "key:<name>". */
  adminIdentity: string;
  close(): Promise<void>;
}
