import { isLoopbackAddress, UsageError, type OptionSpec } from "@fleetplane/platform";
import { readServiceToken, ServiceTokenFileError, type TlsFiles } from "@fleetplane/platform-node";

/** Where a service answers the other services, and the secret they must show. */
export interface InternalListenerSettings {
  host: string;
  port: number;
  token: string | undefined;
  tls?: TlsFiles | undefined;
}

const TOKEN_FILE: OptionSpec = {
  name: "internal-token-file",
  kind: "string",
  description: "File holding the shared service secret (bearer token) of the internal APIs; required when the internal listener is not on loopback. Generate with: openssl rand -hex 32",
};

/** The internal listener of agent-service (gateways call it) and command-service (agent-service calls it). */
export const internalListenerOptions = (port: string): OptionSpec[] => [
  { name: "internal-host", kind: "string", description: "Address of the internal listener (service-to-service API, never the admin API)", default: "127.0.0.1" },
  { name: "internal-port", kind: "number", description: "Port of the internal listener", default: port },
  TOKEN_FILE,
  { name: "internal-tls-cert", kind: "string", description: "PEM certificate for TLS on the internal listener (with --internal-tls-key); reloaded when the file changes" },
  { name: "internal-tls-key", kind: "string", description: "PEM private key for --internal-tls-cert" },
];

/** What a caller of an internal API needs: the token file. */
export const INTERNAL_CLIENT_OPTIONS: OptionSpec[] = [TOKEN_FILE];

/** The token in --internal-token-file, if given. */
export function internalTokenOf(v: Record<string, unknown>): string | undefined {
  const file = v["internal-token-file"];
  if (file === undefined) return undefined;
  try {
    return readServiceToken(String(file));
  } catch (err) {
    if (err instanceof ServiceTokenFileError) throw new UsageError(`--internal-token-file: ${err.message}`);
    throw err;
  }
}

export function internalListenerOf(v: Record<string, unknown>): InternalListenerSettings {
  const host = String(v["internal-host"]);
  const token = internalTokenOf(v);
  if (!token && !isLoopbackAddress(host)) {
    throw new UsageError(`the internal listener on ${host} needs --internal-token-file: without the service secret anyone who reaches it could report for agents and write the audit trail`);
  }
  const cert = v["internal-tls-cert"], key = v["internal-tls-key"];
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--internal-tls-cert and --internal-tls-key go together");
  return { host, port: Number(v["internal-port"]), token, ...(cert !== undefined ? { tls: { certFile: String(cert), keyFile: String(key) } } : {}) };
}
