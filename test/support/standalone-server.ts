import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CertificateService } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { PackageService } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { NamespaceService } from "@fleetplane/gen/fleetplane/fleet/v1/namespace_service_pb";
import { ConfigurationService } from "@fleetplane/gen/fleetplane/fleet/v1/configuration_service_pb";
import { GroupService } from "@fleetplane/gen/fleetplane/fleet/v1/group_service_pb";
import { RolloutService } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_service_pb";
import { silentLogger } from "@fleetplane/platform";
import { startStandalone, type Standalone } from "@fleetplane/server";
import { AccessService } from "@fleetplane/gen/fleetplane/access/v1/access_service_pb";
import { type CsrApproval, serverCustomCapabilities } from "@fleetplane/agent-service";
import { issueApiKey, type OidcSettings } from "@fleetplane/access";
import type { ConsoleOidcSettings } from "@fleetplane/console";
import { bearer } from "./admin-key.js";
import { writeTestCa } from "./csr.js";
import { EnrollmentService } from "@fleetplane/gen/fleetplane/agent/v1/enrollment_service_pb";
import { agentTokenOfStore, registerAgentToken } from "./agent-tokens.js";

/** A standalone server on free loopback ports, with admin clients over real HTTP. */
export async function startTestServer(
  options: {
    dataDir?: string;
    heartbeatMissedIntervals?: number;
    defaultHeartbeatIntervalMs?: number;
    heartbeatIntervalSeconds?: number;
    wsPingIntervalMs?: number;
    maxMessageBytes?: number;
    csrApproval?: CsrApproval;
    console?: boolean;
    /** Custom capabilities the server declares, comma separated (as --custom-capabilities). */
    customCapabilities?: string;
    /** Accept OIDC tokens (as the --oidc-* flags). */
    oidc?: OidcSettings;
    /** The console's OIDC sign-in (as --oidc-console-client-id …; needs `oidc`). */
    consoleOidc?: ConsoleOidcSettings;
    /** What agents present (default "token": the simulated agents send the token made here). */
    agentAuth?: "none" | "token" | "mtls" | "token+mtls";
    /** How often gateways check the tokens in use again (default 5 s). */
    agentTokenRecheckMs?: number;
    /** TLS on the OpAMP port (then the URLs below are wss:// and https://). */
    opampTls?: { certFile: string; keyFile: string; clientCaFile?: string };
    /** With opampTls and csrApproval: the CSR CA is also the --agent-client-ca, so the certificates it issues open mTLS connections. */
    clientCaIsCsrCa?: boolean;
    /** The CSR CA to use (a restart on the same store keeps its CA); default a fresh one. */
    csrCa?: Awaited<ReturnType<typeof writeTestCa>>;
  } = {},
) {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "fleetplane-test-"));
  // With an approval policy, a fresh CA signs agents' CSRs.
  const ca = options.csrApproval ? (options.csrCa ?? (await writeTestCa(mkdtempSync(join(tmpdir(), "fleetplane-ca-"))))) : undefined;
  const server: Standalone = await startStandalone({
    dataDir,
    host: "127.0.0.1",
    opampPort: 0,
    apiHost: "127.0.0.1",
    apiPort: 0,
    retryAfterMs: 1_000,
    ...(options.heartbeatMissedIntervals ? { heartbeatMissedIntervals: options.heartbeatMissedIntervals } : {}),
    ...(options.defaultHeartbeatIntervalMs ? { defaultHeartbeatIntervalMs: options.defaultHeartbeatIntervalMs } : {}),
    ...(options.heartbeatIntervalSeconds !== undefined ? { heartbeatIntervalSeconds: options.heartbeatIntervalSeconds } : {}),
    ...(options.wsPingIntervalMs ? { wsPingIntervalMs: options.wsPingIntervalMs } : {}),
    ...(options.maxMessageBytes ? { maxMessageBytes: options.maxMessageBytes } : {}),
    ...(ca ? { csr: { caCertFile: ca.caCertFile, caKeyFile: ca.caKeyFile, approval: options.csrApproval } } : {}),
    ...(options.console !== undefined ? { console: options.console } : {}),
    customCapabilities: serverCustomCapabilities(options.customCapabilities ?? ""),
    // Rollouts judged often, so rollout tests wait little for a decision.
    rolloutTickMs: 200,
    ...(options.oidc ? { access: { auth: "on" as const, oidc: options.oidc, consoleOidc: options.consoleOidc } } : {}),
    // Tests make their own admin key below (a restart on the same data would find it).
    firstAdminKey: false,
    agentAuth: options.agentAuth ?? "token",
    ...(options.opampTls ? { opampTls: { ...options.opampTls, ...(options.clientCaIsCsrCa && ca ? { clientCaFile: ca.caCertFile } : {}) } } : {}),
    ...(options.agentTokenRecheckMs ? { agentTokenRecheckMs: options.agentTokenRecheckMs } : {}),
    // FLEETPLANE_TEST_LOG=1: the server's own log, at debug level, for hunting a flaky test.
    logger: process.env.FLEETPLANE_TEST_LOG ? (await import("@fleetplane/platform-node")).createLogger("test", "debug") : silentLogger(),
  });
  // Authentication is on, as in production: every client below carries an admin key.
  const { key: adminKey, record } = await issueApiKey(server.access, { name: `test-admin-${Math.random().toString(36).slice(2)}`, role: "admin", namespace: "*", createdBy: "test" });
  const transport = createConnectTransport({ baseUrl: `http://127.0.0.1:${server.apiPort}`, httpVersion: "1.1", interceptors: [bearer(adminKey)] });
  const enrollment = createClient(EnrollmentService, transport);
  // Agents present a token of the default namespace, as the topology's own
  // agents would; a restart on the same store keeps the one they are bound to.
  const agentToken = (options.agentAuth ?? "token").startsWith("token") ? (agentTokenOfStore(dataDir) ?? (await enrollment.createEnrollmentToken({ description: "test agents" })).secret) : undefined;
  if (agentToken) registerAgentToken(server.opampPort, agentToken, dataDir);
  const ws = server.opampScheme;
  const web = ws === "wss" ? "https" : "http";
  return {
    server,
    dataDir,
    gatewayIds: [server.gatewayId],
    close: () => server.close(),
    wsUrl: `${ws}://127.0.0.1:${server.opampPort}/v1/opamp`,
    httpUrl: `${web}://127.0.0.1:${server.opampPort}/v1/opamp`,
    apiUrl: `http://127.0.0.1:${server.apiPort}`,
    agents: createClient(AgentService, transport),
    connections: createClient(ConnectionService, transport),
    commands: createClient(CommandService, transport),
    certificates: createClient(CertificateService, transport),
    ...(ca ? { caCertPem: ca.caCertPem, caKeyPem: ca.caKeyPem, csrCa: ca } : {}),
    packages: createClient(PackageService, transport),
    namespaces: createClient(NamespaceService, transport),
    configurations: createClient(ConfigurationService, transport),
    groups: createClient(GroupService, transport),
    opampUrls: [{ wsUrl: `${ws}://127.0.0.1:${server.opampPort}/v1/opamp`, httpUrl: `${web}://127.0.0.1:${server.opampPort}/v1/opamp` }],
    rollouts: createClient(RolloutService, transport),
    access: createClient(AccessService, transport),
    enrollment,
    agentToken,
    adminKey,
    adminIdentity: `key:${record.name}`,
  };
}

export { eventually } from "./eventually.js";

/** The agent as a fresh server on `dataDir` finds it: what a previous process left in the store. */
export async function storedAgentAfterRestart(dataDir: string, instanceUid: string) {
  const again = await startTestServer({ dataDir });
  try {
    return (await again.agents.getAgent({ instanceUid })).agent;
  } finally {
    await again.server.close();
  }
}
