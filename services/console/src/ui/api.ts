import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { AccessService } from "@fleetplane/gen/fleetplane/access/v1/access_service_pb";

// The credential lives in sessionStorage: gone when the tab closes, never
// sent to another origin, never in a cookie (so no CSRF: a page on another
// site cannot make the browser attach it).
const CREDENTIAL_KEY = "fleetplane.credential";

/** The API key (or token) this tab signed in with, if any. */
export function credential(): string | undefined {
  return sessionStorage.getItem(CREDENTIAL_KEY) ?? undefined;
}

export function rememberCredential(value: string): void {
  sessionStorage.setItem(CREDENTIAL_KEY, value.trim());
}

export function forgetCredential(): void {
  sessionStorage.removeItem(CREDENTIAL_KEY);
}

/** Every call carries the credential: the admin API refuses calls without one. */
const withCredential: Interceptor = (next) => (req) => {
  const c = credential();
  if (c) req.header.set("authorization", `Bearer ${c}`);
  return next(req);
};
import { ConfigurationService } from "@fleetplane/gen/fleetplane/fleet/v1/configuration_service_pb";
import { GroupService } from "@fleetplane/gen/fleetplane/fleet/v1/group_service_pb";
import { NamespaceService } from "@fleetplane/gen/fleetplane/fleet/v1/namespace_service_pb";
import { RolloutService } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_service_pb";

// The console is served by the API it calls: same origin, Connect protocol
// (JSON over fetch, streams included), so it works over plain HTTP/1.1.
const transport = createConnectTransport({ baseUrl: location.origin, interceptors: [withCredential] });

export const agentApi = createClient(AgentService, transport);
export const commandApi = createClient(CommandService, transport);
export const accessApi = createClient(AccessService, transport);
export const namespaceApi = createClient(NamespaceService, transport);
export const configurationApi = createClient(ConfigurationService, transport);
export const groupApi = createClient(GroupService, transport);
export const rolloutApi = createClient(RolloutService, transport);

/** An error as a person should read it: the server's message, without the code prefix noise. */
export function errorText(err: unknown): string {
  if (err && typeof err === "object" && "rawMessage" in err && typeof err.rawMessage === "string") {
    const code = "code" in err ? ` (code ${String(err.code)})` : "";
    return `${err.rawMessage}${code}`;
  }
  return err instanceof Error ? err.message : String(err);
}
