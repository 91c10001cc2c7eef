import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";

/**
 * The admin API clients the chaos scenarios use, for a server in another
 * process. Every admin call of the suite goes through here, so when the admin
 * API needs credentials (an API key) they are added in this one place: the
 * key the server printed at its first start (see ServerProcess.adminKey).
 */
export function adminClients(apiUrl: string, apiKey: string | undefined) {
  const bearer: Interceptor = (next) => (req) => {
    if (apiKey) req.header.set("authorization", `Bearer ${apiKey}`);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl: apiUrl, httpVersion: "1.1", interceptors: [bearer] });
  return { agents: createClient(AgentService, transport), commands: createClient(CommandService, transport) };
}

export type AdminClients = ReturnType<typeof adminClients>;
