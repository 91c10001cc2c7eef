import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { ConfigurationService } from "@fleetplane/gen/fleetplane/fleet/v1/configuration_service_pb";
import { GroupService } from "@fleetplane/gen/fleetplane/fleet/v1/group_service_pb";
import { NamespaceService } from "@fleetplane/gen/fleetplane/fleet/v1/namespace_service_pb";

// The console is served by the API it calls: same origin, Connect protocol
// (JSON over fetch, streams included), so it works over plain HTTP/1.1.
const transport = createConnectTransport({ baseUrl: location.origin });

export const agentApi = createClient(AgentService, transport);
export const commandApi = createClient(CommandService, transport);
export const namespaceApi = createClient(NamespaceService, transport);
export const configurationApi = createClient(ConfigurationService, transport);
export const groupApi = createClient(GroupService, transport);

const ACTOR_KEY = "fleetplane.actor";

/** Who the audit trail names for this browser's actions (no login yet: the user says). */
export function actor(): string {
  return localStorage.getItem(ACTOR_KEY) || "web-console";
}

export function setActor(name: string): void {
  localStorage.setItem(ACTOR_KEY, name.trim());
}

/** An error as a person should read it: the server's message, without the code prefix noise. */
export function errorText(err: unknown): string {
  if (err && typeof err === "object" && "rawMessage" in err && typeof err.rawMessage === "string") {
    const code = "code" in err ? ` (code ${String(err.code)})` : "";
    return `${err.rawMessage}${code}`;
  }
  return err instanceof Error ? err.message : String(err);
}
