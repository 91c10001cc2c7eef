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
];

/** The OpAMP port's certificate files, or undefined for plain HTTP; both flags or neither. */
export function opampTlsOf(values: Record<string, unknown>): TlsFiles | undefined {
  const cert = values["tls-cert"];
  const key = values["tls-key"];
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw new UsageError("--tls-cert and --tls-key go together");
  return { certFile: String(cert), keyFile: String(key) };
}
