import { formatHelp, parseOptions, UsageError, type OptionSpec } from "@fleetplane/platform/cli-options";
import { createLogger } from "@fleetplane/platform/logger";
import { assertGatewayId } from "@fleetplane/platform/nats-push-bus";
import { startTracing } from "@fleetplane/platform/tracing";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { startAgentServiceAlone, startCommandServiceAlone, startGatewayAlone, type Running } from "./single-services.js";
import { refuseReplacedOptions } from "./replaced-options.js";
import { startStandalone } from "./standalone.js";
import { CSR_OPTIONS, csrSettingsOf } from "./certificate-authority-choice.js";
import { CONSOLE_OPTION } from "./console-choice.js";
import { InvalidCustomCapabilityError, serverCustomCapabilities } from "@fleetplane/agent-service/domain/server-custom-capabilities";

/** How the gateway treats agents; the same in standalone and alone. */
const GATEWAY_LIMIT_OPTIONS: OptionSpec[] = [
  { name: "max-message-bytes", kind: "number", description: "Largest OpAMP message accepted or sent", default: String(64 * 1024 * 1024) },
  {
    name: "heartbeat-missed-intervals",
    kind: "number",
    description: "An HTTP agent that stops polling, or a WebSocket agent that reports heartbeats and falls silent, is marked disconnected after missing this many of its heartbeat intervals",
    default: "3",
  },
  {
    name: "default-heartbeat-interval-seconds",
    kind: "number",
    description: "Heartbeat (and HTTP polling) interval assumed for an agent the server has not given one (the spec's default)",
    default: "30",
  },
  { name: "ws-ping-interval-seconds", kind: "number", description: "WebSocket ping interval; a socket that has not answered one ping by the next is closed and its agent marked disconnected (0: no pings)", default: "30" },
  { name: "retry-after-seconds", kind: "number", description: "Retry hint given to agents when a dependency is down", default: "30" },
];

function gatewayLimits(v: Record<string, unknown>) {
  return {
    maxMessageBytes: Number(v["max-message-bytes"]),
    heartbeatMissedIntervals: atLeastOne(v, "heartbeat-missed-intervals"),
    defaultHeartbeatIntervalMs: positiveSeconds(v, "default-heartbeat-interval-seconds") * 1000,
    wsPingIntervalMs: Number(v["ws-ping-interval-seconds"]) * 1000,
    retryAfterMs: Number(v["retry-after-seconds"]) * 1000,
  };
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

/** What agent-service offers agents; the same in standalone and alone. */
const HEARTBEAT_OFFER: OptionSpec = {
  name: "heartbeat-interval-seconds",
  kind: "number",
  description:
    "Heartbeat interval offered (in OpAMP connection settings) to agents that report heartbeats and accept OpAMP connection settings; whole seconds, 0: offer none",
  default: "30",
};

/** What agent-service declares to agents; the same in standalone and alone. */
const CUSTOM_CAPABILITIES: OptionSpec = {
  name: "custom-capabilities",
  kind: "string",
  description:
    "Custom capabilities this server declares to agents (ServerToAgent.custom_capabilities), comma separated, each a reverse FQDN with an optional version (e.g. com.example.pause,com.example.tail/v2); empty: none",
  default: "",
};

function customCapabilities(v: Record<string, unknown>) {
  try {
    return serverCustomCapabilities(String(v["custom-capabilities"] ?? ""));
  } catch (err) {
    if (err instanceof InvalidCustomCapabilityError) throw new UsageError(`--custom-capabilities: ${err.message}`);
    throw err;
  }
}

function heartbeatOffer(v: Record<string, unknown>): number {
  const n = Number(v["heartbeat-interval-seconds"]);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--heartbeat-interval-seconds must be a whole number of seconds (0: offer none), got ${String(v["heartbeat-interval-seconds"])}`);
  return n;
}

const STANDALONE_OPTIONS: OptionSpec[] = [
  { name: "data-dir", kind: "string", description: "Directory of the embedded store", default: ".data/fleetplane" },
  { name: "opamp-host", kind: "string", description: "Address OpAMP listens on", default: "127.0.0.1" },
  { name: "opamp-port", kind: "number", description: "OpAMP port (WebSocket and plain HTTP at /v1/opamp and /api/v1/opamp)", default: "4320" },
  { name: "api-host", kind: "string", description: "Address the admin API listens on", default: "127.0.0.1" },
  { name: "api-port", kind: "number", description: "Admin API port (Connect, gRPC, gRPC-web; HTTP/1.1 and h2c)", default: "4321" },
  CONSOLE_OPTION,
  ...GATEWAY_LIMIT_OPTIONS,
  ...CSR_OPTIONS,
  HEARTBEAT_OFFER,
  CUSTOM_CAPABILITIES,
  { name: "log-level", kind: "string", description: "trace, debug, info, warn or error", default: "info" },
];

const common = (port: string, dataDir?: string): OptionSpec[] => [
  ...(dataDir ? [{ name: "data-dir", kind: "string" as const, description: "Directory of the embedded store", default: dataDir }] : []),
  { name: "host", kind: "string", description: "Address to listen on", default: "127.0.0.1" },
  { name: "port", kind: "number", description: "Port to listen on", default: port },
  { name: "log-level", kind: "string", description: "trace, debug, info, warn or error", default: "info" },
];

const MONGO_URL: OptionSpec = {
  name: "mongo-url",
  kind: "string",
  description: "MongoDB connection string (e.g. mongodb://db1,db2/fleetplane?replicaSet=rs0); unset keeps data in the embedded store under --data-dir",
};
const NATS_URL: OptionSpec = {
  name: "nats-url",
  kind: "string",
  description: "NATS server(s), comma separated (e.g. nats://127.0.0.1:4222); unset means pushes only reach a gateway in this process",
};
const optional = (v: unknown) => (v === undefined ? undefined : String(v));

/** A gateway id unique to this process, usable as a NATS subject token. */
function defaultGatewayId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40) || "host";
  return `${host}-${randomBytes(3).toString("hex")}`;
}

function gatewayIdOption(given: string | undefined): string {
  try {
    return assertGatewayId(given ?? defaultGatewayId());
  } catch (err) {
    throw new UsageError(`--gateway-id: ${(err as Error).message}`);
  }
}

/** Each service on its own (the pieces of the distributed topology). */
const SINGLE: Record<string, { summary: string; options: OptionSpec[]; start: (v: Record<string, unknown>, logger: ReturnType<typeof createLogger>) => Promise<Running> }> = {
  "command-service": {
    summary: "Runs command-service alone: the audit trail API.",
    options: [...common("4323", ".data/command-service"), MONGO_URL],
    start: (v, logger) =>
      startCommandServiceAlone({ dataDir: String(v["data-dir"]), mongoUrl: optional(v["mongo-url"]), host: String(v.host), port: Number(v.port), logger }),
  },
  "agent-service": {
    summary: "Runs agent-service alone: the agent and connection API.",
    options: [
      ...common("4322", ".data/agent-service"),
      MONGO_URL,
      NATS_URL,
      { name: "command-service-url", kind: "string", description: "Base URL of command-service", default: "http://127.0.0.1:4323" },
      { name: "reap-interval-seconds", kind: "number", description: "How often to look for gateways whose lease ran out", default: "5" },
      ...CSR_OPTIONS,
      CONSOLE_OPTION,
      HEARTBEAT_OFFER,
      CUSTOM_CAPABILITIES,
    ],
    start: (v, logger) =>
      startAgentServiceAlone({
        dataDir: String(v["data-dir"]),
        mongoUrl: optional(v["mongo-url"]),
        natsUrl: optional(v["nats-url"]),
        host: String(v.host),
        port: Number(v.port),
        commandServiceUrl: String(v["command-service-url"]),
        reapIntervalMs: Number(v["reap-interval-seconds"]) * 1000,
        csr: csrSettingsOf(v),
        console: v.console === true,
        heartbeatIntervalSeconds: heartbeatOffer(v),
        customCapabilities: customCapabilities(v),
        logger,
      }),
  },
  gateway: {
    summary: "Runs opamp-gateway alone: OpAMP for agents, agent-service over Connect, pushes from NATS.",
    options: [
      ...common("4320"),
      { name: "agent-service-url", kind: "string", description: "Base URL of agent-service (or a load balancer in front of its replicas)", default: "http://127.0.0.1:4322" },
      NATS_URL,
      { name: "gateway-id", kind: "string", description: "Unique id of this gateway replica (letters, digits, _ and -); default: host name and random hex" },
      { name: "lease-seconds", kind: "number", description: "Agents of this gateway are marked disconnected this long after it dies", default: "30" },
      ...GATEWAY_LIMIT_OPTIONS,
    ],
    start: (v, logger) =>
      startGatewayAlone({
        gatewayId: gatewayIdOption(optional(v["gateway-id"])),
        host: String(v.host),
        port: Number(v.port),
        agentServiceUrl: String(v["agent-service-url"]),
        natsUrl: optional(v["nats-url"]),
        leaseSeconds: Number(v["lease-seconds"]),
        ...gatewayLimits(v),
        logger,
      }),
  },
};

const USAGE = `fleetplane <command> [options]

Commands:
  standalone       Run gateway, agent-service and command-service in one process (default)
  gateway          Run opamp-gateway alone
  agent-service    Run agent-service alone
  command-service  Run command-service alone
  sim              Simulate a fleet of OpAMP agents against a server

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
    const { runSimCli } = await import("@fleetplane/simulator/sim-cli");
    return runSimCli(args);
  }
  const single = SINGLE[command];
  if (single) {
    const parsed = parseOptions(single.options, args);
    if (parsed.help) {
      process.stdout.write(formatHelp(`fleetplane ${command} [options]`, single.summary, single.options));
      return 0;
    }
    const logger = createLogger(command, String(parsed.values["log-level"]));
    const tracing = startTracing({ serviceName: command, logger });
    const running = await single.start(parsed.values, logger);
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
    return 0;
  }
  const logger = createLogger("fleetplane", String(values["log-level"]));
  const tracing = startTracing({ serviceName: "fleetplane", logger });
  const server = await startStandalone({
    dataDir: String(values["data-dir"]),
    host: String(values["opamp-host"]),
    opampPort: Number(values["opamp-port"]),
    apiHost: String(values["api-host"]),
    apiPort: Number(values["api-port"]),
    console: values.console === true,
    ...gatewayLimits(values),
    csr: csrSettingsOf(values),
    heartbeatIntervalSeconds: heartbeatOffer(values),
    customCapabilities: customCapabilities(values),
    logger,
  });
  logger.info(
    { opamp: `ws://${values["opamp-host"]}:${server.opampPort}/v1/opamp`, api: `http://${values["api-host"]}:${server.apiPort}`, dataDir: values["data-dir"] },
    "Fleetplane standalone is running",
  );
  process.stderr.write(
    `\nFleetplane standalone\n  OpAMP:     ws://${values["opamp-host"]}:${server.opampPort}/v1/opamp  (also http:// POST, and /api/v1/opamp)\n  Admin API: http://${values["api-host"]}:${server.apiPort}  (Connect, gRPC, gRPC-web)\n${values.console === true ? `  Console:   http://${values["api-host"]}:${server.apiPort}/\n` : ""}  Data:      ${values["data-dir"]}\n\n`,
  );
  await untilSignal(logger);
  await server.close();
  await tracing.shutdown();
  logger.info("stopped");
  return 0;
}

function untilSignal(logger: ReturnType<typeof createLogger>): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, "shutting down");
      resolve();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`fleetplane: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`fleetplane: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
