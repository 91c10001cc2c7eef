import { formatHelp, parseOptions, UsageError, type OptionSpec } from "@fleetplane/platform";
import { createLogger, startTracing } from "@fleetplane/platform-node";
import { Code, ConnectError } from "@connectrpc/connect";
import { startAgentServiceAlone, startCommandServiceAlone, startGatewayAlone, type Running } from "./single-services.js";
import { refuseReplacedOptions } from "./replaced-options.js";
import { startStandalone } from "./standalone.js";
import { StartupError, startExplained } from "./startup-errors.js";
import { csrSettingsOf } from "./certificate-authority-choice.js";
import { COMMAND_OPTIONS, STANDALONE_OPTIONS } from "./command-options.js";
import { adminAccessOf } from "./admin-access-choice.js";
import { internalClientOf, internalListenerOf } from "./internal-listener-choice.js";
import { runAdminCommand } from "./admin-command.js";
import { agentRetentionOf } from "./agent-retention-choice.js";
import { agentAuthOf } from "./agent-auth-choice.js";
import { startGatewayWorkers } from "./gateway-workers/gateway-workers.js";
import { opampTlsOf } from "./opamp-tls-choice.js";
import { gatewayIdOf } from "./gateway-id-choice.js";
import { limitHeapGrowth } from "./heap-growth.js";
import { InvalidTrustedProxyError, TrustedProxies, type AgentAuthMode, type GatewaySettings } from "@fleetplane/opamp-gateway";
import { InvalidCustomCapabilityError, serverCustomCapabilities } from "@fleetplane/agent-service";

/** The gateway flags (GATEWAY_LIMIT_OPTIONS), checked, in the units of GatewaySettings. */
function gatewayLimits(v: Record<string, unknown>): GatewaySettings {
  return {
    maxMessageBytes: Number(v["max-message-bytes"]),
    heartbeatMissedIntervals: atLeastOne(v, "heartbeat-missed-intervals"),
    defaultHeartbeatIntervalMs: positiveSeconds(v, "default-heartbeat-interval-seconds") * 1000,
    wsPingIntervalMs: Number(v["ws-ping-interval-seconds"]) * 1000,
    retryAfterMs: Number(v["retry-after-seconds"]) * 1000,
    firstMessageTimeoutMs: positiveSeconds(v, "first-message-timeout-seconds") * 1000,
    handshakeTimeoutMs: positiveSeconds(v, "handshake-timeout-seconds") * 1000,
    maxConnections: wholeOrZero(v, "max-connections"),
    newAgentsPerSecondPerSource: wholeOrZero(v, "new-agents-per-second-per-source"),
    newAgentsPerSecond: wholeOrZero(v, "new-agents-per-second"),
    maxConnectingAgents: wholeOrZero(v, "max-connecting-agents"),
    warningIntervalMs: positiveSeconds(v, "warning-log-interval-seconds") * 1000,
    maxDescriptionAttributes: wholeOrZero(v, "max-description-attributes"),
    maxAttributeBytes: wholeOrZero(v, "max-attribute-bytes"),
    maxCustomMessageBytes: wholeOrZero(v, "max-custom-message-bytes"),
    maxEffectiveConfigBytes: wholeOrZero(v, "max-effective-config-bytes"),
    maxHealthComponents: wholeOrZero(v, "max-health-components"),
    maxHealthDepth: atLeastOne(v, "max-health-depth"),
    maxPackageStatuses: wholeOrZero(v, "max-package-statuses"),
    maxPackageStatusBytes: wholeOrZero(v, "max-package-status-bytes"),
    maxAvailableComponents: wholeOrZero(v, "max-available-components"),
    maxAvailableComponentsDepth: atLeastOne(v, "max-available-components-depth"),
    maxAvailableComponentsBytes: wholeOrZero(v, "max-available-components-bytes"),
    trustedProxies: trustedProxies(v),
  };
}

function trustedProxies(v: Record<string, unknown>): string[] {
  const entries = v["trusted-proxies"] === undefined ? [] : String(v["trusted-proxies"]).split(",").map((s) => s.trim()).filter(Boolean);
  try {
    new TrustedProxies(entries);
  } catch (err) {
    if (err instanceof InvalidTrustedProxyError) throw new UsageError(`--trusted-proxies: ${err.message}`);
    throw err;
  }
  return entries;
}

/** A whole number, where 0 means "no limit". */
function wholeOrZero(v: Record<string, unknown>, name: string): number {
  const n = Number(v[name]);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number (0: no limit), got ${String(v[name])}`);
  return n;
}

function atLeastOne(v: Record<string, unknown>, name: string): number {
  const n = Number(v[name]);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a whole number of at least 1, got ${String(v[name])}`);
  return n;
}

function positiveSeconds(v: Record<string, unknown>, name: string): number {
  const n = Number(v[name]);
  if (!(n > 0)) throw new UsageError(`--${name} must be more than 0 seconds, got ${String(v[name])}`);
  return n;
}

function customCapabilities(v: Record<string, unknown>) {
  try {
    return serverCustomCapabilities(String(v["custom-capabilities"] ?? ""));
  } catch (err) {
    if (err instanceof InvalidCustomCapabilityError) throw new UsageError(`--custom-capabilities: ${err.message}`);
    throw err;
  }
}

function workerCount(v: Record<string, unknown>): number {
  const n = Number(v.workers);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--workers must be a whole number (0: the gateway in this process), got ${String(v.workers)}`);
  return n;
}

function heartbeatOffer(v: Record<string, unknown>): number {
  const n = Number(v["heartbeat-interval-seconds"]);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--heartbeat-interval-seconds must be a whole number of seconds (0: offer none), got ${String(v["heartbeat-interval-seconds"])}`);
  return n;
}

const optional = (v: unknown) => (v === undefined ? undefined : String(v));

/** Each service on its own (the pieces of the distributed topology). */
const SINGLE: Record<string, { summary: string; options: OptionSpec[]; start: (v: Record<string, unknown>, logger: ReturnType<typeof createLogger>) => Promise<Running> }> = {
  "command-service": {
    summary: "Runs command-service alone: the audit trail API.",
    options: COMMAND_OPTIONS["command-service"],
    start: (v, logger) =>
      startCommandServiceAlone({
        dataDir: String(v["data-dir"]),
        mongoUrl: optional(v["mongo-url"]),
        host: String(v.host),
        port: Number(v.port),
        access: adminAccessOf(v, String(v.host)),
        internal: internalListenerOf(v),
        logger,
      }),
  },
  "agent-service": {
    summary: "Runs agent-service alone: the agent and connection API.",
    options: COMMAND_OPTIONS["agent-service"],
    start: (v, logger) =>
      startAgentServiceAlone({
        dataDir: String(v["data-dir"]),
        mongoUrl: optional(v["mongo-url"]),
        natsUrl: optional(v["nats-url"]),
        host: String(v.host),
        port: Number(v.port),
        commandServiceUrl: String(v["command-service-url"]),
        access: adminAccessOf(v, String(v.host)),
        internal: internalListenerOf(v),
        internalCa: internalClientOf(v, ["command-service-url"]).ca,
        reapIntervalMs: Number(v["reap-interval-seconds"]) * 1000,
        rolloutTickMs: Number(v["rollout-tick-seconds"]) * 1000,
        rolloutLeaseMs: Number(v["rollout-lease-seconds"]) * 1000,
        csr: csrSettingsOf(v),
        console: v.console === true,
        heartbeatIntervalSeconds: heartbeatOffer(v),
        customCapabilities: customCapabilities(v),
        agentRetentionMs: agentRetentionOf(v),
        logger,
      }),
  },
  gateway: {
    summary: "Runs opamp-gateway alone: OpAMP for agents, agent-service over Connect, pushes from NATS.",
    options: COMMAND_OPTIONS.gateway,
    start: async (v, logger) => {
      const gatewayId = gatewayIdOf(optional(v["gateway-id"]));
      const settings: GatewaySettings = { leaseSeconds: Number(v["lease-seconds"]), ...gatewayLimits(v), agentAuth: agentAuthOf(v, String(v.host), opampTlsOf(v), logger) };
      const where = { host: String(v.host), port: Number(v.port), agentServiceUrl: String(v["agent-service-url"]), internal: internalClientOf(v, ["agent-service-url"]), natsUrl: optional(v["nats-url"]), tls: opampTlsOf(v) };
      const workers = workerCount(v);
      if (workers === 0) return startGatewayAlone({ gatewayId, ...where, ...settings, logger });
      if (!where.natsUrl) throw new UsageError("--workers needs --nats-url: each worker is a gateway of its own, and pushes reach it over NATS");
      const running = await startGatewayWorkers({ count: workers, gatewayIdPrefix: gatewayId, base: { ...where, settings, logLevel: String(v["log-level"]) }, accept: "round-robin", logger });
      return { port: running.port, close: () => running.close() };
    },
  },
};

/** What the standalone banner says agents must present. */
const AGENT_AUTH_BANNER: Record<AgentAuthMode, string> = {
  none: "not authenticated (--agent-auth none: safe only while OpAMP listens on loopback)",
  token: "enrollment token needed (Authorization: Bearer <token>; EnrollmentService/CreateEnrollmentToken)",
  mtls: "client certificate needed (mTLS, issued by --agent-client-ca)",
  "token+mtls": "enrollment token and client certificate needed",
};

const USAGE = `fleetplane <command> [options]

Commands:
  standalone       Run gateway, agent-service and command-service in one process (default)
  gateway          Run opamp-gateway alone
  agent-service    Run agent-service alone
  command-service  Run command-service alone
  sim              Simulate a fleet of OpAMP agents against a server
  admin create-key Make an API key in a server's store (the first admin key)
  apply            Make the fleet match YAML files (namespaces, configurations, groups)
  get              List agents, groups, configurations or namespaces
  rollout          Staged rollouts: start, status, list, watch, pause, resume, abort, rollback
  preflight        Check a configuration version against what a group's agents can run

Run "fleetplane <command> --help" for the options of a command.`;

async function main(argv: string[]): Promise<number> {
  refuseReplacedOptions(argv, process.env);
  const [first, ...rest] = argv;
  const command = !first || first.startsWith("-") ? "standalone" : first;
  const args = command === first ? rest : argv;
  if (command === "help") {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  if (command === "sim") {
    // Loaded on demand: the server commands do not need the simulator.
    const { runSimCli } = await import("@fleetplane/simulator");
    return runSimCli(args);
  }
  if (command === "admin") return runAdminCommand(args);
  if (command === "apply" || command === "get") {
    // Admin clients, loaded on demand like the simulator.
    const run = command === "apply" ? (await import("./fleet-cli/apply-command.js")).runApply : (await import("./fleet-cli/get-command.js")).runGet;
    return run(args);
  }
  if (command === "rollout") return (await import("./rollout-cli/rollout-command.js")).runRollout(args);
  if (command === "preflight") return (await import("./rollout-cli/preflight-command.js")).runPreflight(args);
  // Every command from here on is a server that holds agents or serves them.
  if (command === "standalone" || SINGLE[command]) limitHeapGrowth();
  const single = SINGLE[command];
  if (single) {
    const parsed = parseOptions(single.options, args);
    if (parsed.help) {
      process.stdout.write(formatHelp(`fleetplane ${command} [options]`, single.summary, single.options));
      return 0;
    }
    const logger = createLogger(command, String(parsed.values["log-level"]));
    const tracing = await startTracing({ serviceName: command, logger });
    const running = await startExplained(() => single.start(parsed.values, logger), parsed.values);
    logger.info({ port: running.port }, `${command} is running`);
    await untilSignal(logger);
    await running.close();
    await tracing.shutdown();
    return 0;
  }
  if (command !== "standalone") {
    process.stderr.write(`unknown command "${command}"\n\n${USAGE}\n`);
    return 2;
  }
  const { values, help } = parseOptions(STANDALONE_OPTIONS, args);
  if (help) {
    process.stdout.write(formatHelp("fleetplane standalone [options]", "Runs the whole control plane in one process with an embedded, durable store.", STANDALONE_OPTIONS));
    process.stdout.write(`\n${USAGE}\n`);
    return 0;
  }
  const logger = createLogger("fleetplane", String(values["log-level"]));
  const tracing = await startTracing({ serviceName: "fleetplane", logger });
  const opampTls = opampTlsOf(values);
  const agentAuth = agentAuthOf(values, String(values["opamp-host"]), opampTls, logger);
  const server = await startExplained(() => startStandalone({
    dataDir: String(values["data-dir"]),
    host: String(values["opamp-host"]),
    opampPort: Number(values["opamp-port"]),
    apiHost: String(values["api-host"]),
    apiPort: Number(values["api-port"]),
    console: values.console === true,
    access: adminAccessOf(values, String(values["api-host"])),
    ...gatewayLimits(values),
    agentAuth,
    opampTls,
    csr: csrSettingsOf(values),
    heartbeatIntervalSeconds: heartbeatOffer(values),
    customCapabilities: customCapabilities(values),
    agentRetentionMs: agentRetentionOf(values),
    workers: { count: workerCount(values), logLevel: String(values["log-level"]) },
    logger,
  }), values);
  logger.info(
    { opamp: `${server.opampScheme}://${values["opamp-host"]}:${server.opampPort}/v1/opamp`, api: `http://${values["api-host"]}:${server.apiPort}`, dataDir: values["data-dir"] },
    "Fleetplane standalone is running",
  );
  const apiUrl = `${server.apiScheme}://${values["api-host"]}:${server.apiPort}`;
  // The first admin key goes to this banner only (a terminal), never to the JSON log, which is often shipped elsewhere.
  const firstKey = server.firstAdminKey
    ? `  Admin key: ${server.firstAdminKey}\n             (made because the store had no key; shown once — keep it. Use: authorization: Bearer <key>)\n`
    : "";
  if (server.firstAdminKey) logger.info("a first admin API key was made and printed to the terminal (not logged)");
  const agents = `  Agents:    ${AGENT_AUTH_BANNER[agentAuth]}${opampTls?.clientCaFile ? "; client certificates checked against --agent-client-ca" : ""}\n`;
  process.stderr.write(
    `\nFleetplane standalone\n  OpAMP:     ${server.opampScheme}://${values["opamp-host"]}:${server.opampPort}/v1/opamp  (also ${server.opampScheme === "wss" ? "https" : "http"}:// POST, and /api/v1/opamp)\n${agents}  Admin API: ${apiUrl}  (Connect, gRPC, gRPC-web)\n${values.console === true ? `  Console:   ${apiUrl}/\n` : ""}${firstKey}  Data:      ${values["data-dir"]}\n\n`,
  );
  await untilSignal(logger);
  await server.close();
  await tracing.shutdown();
  logger.info("stopped");
  return 0;
}

/**
 * Resolves on the first SIGTERM or SIGINT. Later signals are ignored, not
 * left to Node's default (exit at once): under `npm start`, Docker or a
 * terminal the same signal often arrives twice — once to the process group,
 * once forwarded by a wrapper — and the second must not cut the graceful
 * shutdown short. SIGKILL still stops a shutdown that hangs.
 */
function untilSignal(logger: ReturnType<typeof createLogger>): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.info({ signal }, "already shutting down; ignoring the signal (SIGKILL forces an exit)");
        return;
      }
      stopping = true;
      logger.info({ signal }, "shutting down");
      resolve();
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`fleetplane: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof ConnectError) {
      // apply, get, rollout, preflight: the admin API refused or could not be reached.
      process.stderr.write(`fleetplane: the admin API answered ${Code[err.code]}: ${err.rawMessage}\n`);
      process.exit(1);
    }
    if (err instanceof StartupError) {
      process.stderr.write(`fleetplane: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`fleetplane: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
