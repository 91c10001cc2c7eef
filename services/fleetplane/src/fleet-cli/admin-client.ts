import type { Interceptor } from "@connectrpc/connect";
import { createFleetplaneClient, type FleetplaneClient } from "@fleetplane/client";
import type { OptionSpec, OptionValues } from "@fleetplane/platform";

/** How `fleetplane apply` and `fleetplane get` reach the admin API. */
export const ADMIN_OPTIONS: readonly OptionSpec[] = [
  { name: "server", kind: "string", description: "Admin API URL (standalone: the server's admin port; distributed: agent-service)", default: "http://127.0.0.1:4321" },
  { name: "api-key", kind: "string", description: "API key, sent as \"authorization: Bearer <key>\" (none: no header)" },
];

/** The typed client for the admin API the options name, with the API key on every call when one is given. */
export function adminClient(values: OptionValues): FleetplaneClient {
  const key = values["api-key"] === undefined ? "" : String(values["api-key"]);
  const bearer: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  };
  return createFleetplaneClient({ baseUrl: String(values.server), ...(key ? { interceptors: [bearer] } : {}) });
}

/**
 * kubectl's one-letter flags for the options these commands share with it
 * (`-f`, `-n`, `-o`), spelled as the long options the parser knows.
 */
export function expandShortFlags(argv: readonly string[], short: Readonly<Record<string, string>>): string[] {
  return argv.map((arg) => (short[arg] ? `--${short[arg]}` : arg));
}
