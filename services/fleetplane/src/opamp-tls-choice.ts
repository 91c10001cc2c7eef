import { UsageError, type OptionSpec } from "@fleetplane/platform";
import type { TlsFiles } from "@fleetplane/platform-node";

/** TLS on the OpAMP port (standalone and a gateway run alone). */
export const OPAMP_TLS_OPTIONS: OptionSpec[] = [
  {
    name: "tls-cert",
    kind: "string",
    description: "PEM certificate (chain) for TLS on the OpAMP port (https:// and wss://, with --tls-key); reloaded when the file changes. Without it OpAMP is plain HTTP: for loopback, or behind a proxy that terminates TLS",
  },
  { name: "tls-key", kind: "string", description: "PEM private key for --tls-cert" },
  {
    name: "agent-client-ca",
    kind: "string",
    description:
      "PEM CA certificate(s) that issue agents' client certificates (mTLS; with --tls-cert): the OpAMP port asks for a client certificate and refuses one that does not verify (401); one with a urn:uuid SAN may only speak for that instance UID. Reloaded when the file changes. Usually the --csr-ca-cert, so certificates from the CSR flow are accepted",
  },
];

/** The OpAMP port's certificate files, or undefined for plain HTTP; both flags or neither, and a client CA only with them. */
export function opampTlsOf(values: Record<string, unknown>): TlsFiles | undefined {
  const cert = values["tls-cert"];
  const key = values["tls-key"];
  const clientCa = values["agent-client-ca"];
  if (cert === undefined && key === undefined) {
    if (clientCa !== undefined) throw new UsageError("--agent-client-ca needs TLS on the OpAMP port: give --tls-cert and --tls-key too (client certificates travel in the TLS handshake)");
    return undefined;
  }
  if (cert === undefined || key === undefined) throw new UsageError("--tls-cert and --tls-key go together");
  return { certFile: String(cert), keyFile: String(key), ...(clientCa !== undefined ? { clientCaFile: String(clientCa) } : {}) };
}
