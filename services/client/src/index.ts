import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CertificateService } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { PackageService } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { NamespaceService } from "@fleetplane/gen/fleetplane/fleet/v1/namespace_service_pb";
import { ConfigurationService } from "@fleetplane/gen/fleetplane/fleet/v1/configuration_service_pb";
import { GroupService } from "@fleetplane/gen/fleetplane/fleet/v1/group_service_pb";
import { RolloutService } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_service_pb";

export { ConfigSource } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
export type { Configuration, ConfigurationVersion, Group, GroupStatus, LabelSelector, Namespace } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { AccessService } from "@fleetplane/gen/fleetplane/access/v1/access_service_pb";

export { AgentService, ConnectionService, CertificateService, CommandService, PackageService, AccessService, NamespaceService, ConfigurationService, GroupService, RolloutService };
export { CertificateRequestState, type CertificateRequest } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
export { CommandKind, RemoteConfigState, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
export { CommandState, type CommandRecord } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
export type { Package } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";

export interface FleetplaneClientOptions {
  /** Admin API base URL, e.g. http://127.0.0.1:4321 (standalone) or agent-service's address. */
  baseUrl: string;
  /** Where CommandService lives when it is not at `baseUrl` (distributed: command-service's address). */
  commandServiceUrl?: string;
  /** Wire protocol: Connect (default; HTTP/1.1 or HTTP/2), gRPC or gRPC-web (both over HTTP/2 here). */
  protocol?: "connect" | "grpc" | "grpc-web";
  /** For the Connect protocol: "1.1" (default) or "2". gRPC always uses HTTP/2. */
  httpVersion?: "1.1" | "2";
  /**
   * An API key (fpk_…) or OIDC token sent as `authorization: Bearer …` on
   * every call; the admin API refuses calls without one.
   */
  apiKey?: string;
  /** More interceptors (run after the one that adds the key). */
  interceptors?: Interceptor[];
}

/** Adds `authorization: Bearer <credential>` to every call. */
export function bearerInterceptor(credential: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${credential}`);
    return next(req);
  };
}

export interface FleetplaneClient {
  agents: Client<typeof AgentService>;
  connections: Client<typeof ConnectionService>;
  /** Agents' certificate signing requests: list, approve, deny (served by agent-service). */
  certificates: Client<typeof CertificateService>;
  commands: Client<typeof CommandService>;
  /** The package registry (served with AgentService). */
  packages: Client<typeof PackageService>;
  /** Namespaces, configurations with their versions, and groups (served with AgentService). */
  namespaces: Client<typeof NamespaceService>;
  configurations: Client<typeof ConfigurationService>;
  groups: Client<typeof GroupService>;
  /** Staged rollouts of a group's configuration versions, and preflight. */
  rollouts: Client<typeof RolloutService>;
  /** API keys, role bindings, WhoAmI, refused calls (served with AgentService). */
  access: Client<typeof AccessService>;
}

/**
 * Typed clients for every public Fleetplane service, for internal platforms
 * written in TypeScript. Each method takes and returns the generated
 * messages; errors are ConnectErrors with the server's code.
 */
export function createFleetplaneClient(o: FleetplaneClientOptions): FleetplaneClient {
  const transportFor = (baseUrl: string) => {
    const interceptors = [...(o.apiKey ? [bearerInterceptor(o.apiKey)] : []), ...(o.interceptors ?? [])];
    switch (o.protocol ?? "connect") {
      case "grpc":
        return createGrpcTransport({ baseUrl, interceptors });
      case "grpc-web":
        return createGrpcWebTransport({ baseUrl, httpVersion: "2", interceptors });
      default:
        return createConnectTransport({ baseUrl, httpVersion: o.httpVersion ?? "1.1", interceptors });
    }
  };
  const main = transportFor(o.baseUrl);
  return {
    agents: createClient(AgentService, main),
    connections: createClient(ConnectionService, main),
    certificates: createClient(CertificateService, main),
    packages: createClient(PackageService, main),
    namespaces: createClient(NamespaceService, main),
    configurations: createClient(ConfigurationService, main),
    groups: createClient(GroupService, main),
    rollouts: createClient(RolloutService, main),
    access: createClient(AccessService, main),
    commands: createClient(CommandService, o.commandServiceUrl ? transportFor(o.commandServiceUrl) : main),
  };
}
