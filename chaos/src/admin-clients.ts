import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";

/**
 * The admin API clients the chaos scenarios use, for a server in another
 * process. Every admin call of the suite goes through here, so when the admin
 * API needs credentials (an API key) they are added in this one place.
 */
export function adminClients(apiUrl: string) {
  const transport = createConnectTransport({ baseUrl: apiUrl, httpVersion: "1.1" });
  return { agents: createClient(AgentService, transport), commands: createClient(CommandService, transport) };
}

export type AdminClients = ReturnType<typeof adminClients>;
