import { AGENT_AUTH_MODES, requiresClientCertificate, type AgentAuthMode } from "@fleetplane/opamp-gateway";
import type { TlsFiles } from "@fleetplane/platform-node";
import { isLoopbackAddress, UsageError, type Logger, type OptionSpec } from "@fleetplane/platform";

/** What agents must present on the OpAMP port (standalone and a gateway run alone). */
export const AGENT_AUTH_OPTIONS: OptionSpec[] = [
  {
    name: "agent-auth",
    kind: "string",
    description:
      "What agents must present on the OpAMP port: token (an enrollment token, Authorization: Bearer <token>), mtls (a client certificate issued by --agent-client-ca), token+mtls (both) or none. Default: none when OpAMP listens on loopback, token otherwise",
  },
  {
    name: "allow-unauthenticated-agents",
    kind: "boolean",
    description: "Allow --agent-auth none on an OpAMP address other than loopback (anyone who reaches the port can then be any agent)",
    default: "false",
  },
];

/**
 * The agent authentication of a process listening for OpAMP on `host`:
 * safe by default (a token off loopback); "none" off loopback only when
 * asked for twice, and then said loudly.
 */
export function agentAuthOf(values: Record<string, unknown>, host: string, tls: TlsFiles | undefined, logger: Logger): AgentAuthMode {
  const loopback = isLoopbackAddress(host);
  const given = values["agent-auth"];
  const mode = given === undefined ? (loopback ? "none" : "token") : String(given);
  if (!AGENT_AUTH_MODES.includes(mode as AgentAuthMode)) throw new UsageError(`--agent-auth must be one of ${AGENT_AUTH_MODES.join(", ")}, got ${mode}`);
  if (requiresClientCertificate(mode as AgentAuthMode) && !tls?.clientCaFile) {
    throw new UsageError(`--agent-auth ${mode} needs client certificates to check: give --tls-cert, --tls-key and --agent-client-ca`);
  }
  if (mode === "none" && !loopback) {
    if (values["allow-unauthenticated-agents"] !== true) {
      throw new UsageError(
        `--agent-auth none on ${host} would let anyone who reaches the OpAMP port be any agent: use --agent-auth token (enrollment tokens), or add --allow-unauthenticated-agents if something in front authenticates agents`,
      );
    }
    logger.warn({ host }, "agents are not authenticated (--agent-auth none --allow-unauthenticated-agents): anyone who reaches the OpAMP port can be any agent");
  }
  return mode as AgentAuthMode;
}
