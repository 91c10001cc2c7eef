import { GATEWAY_DEFAULTS } from "@fleetplane/opamp-gateway";
import type { OptionSpec } from "@fleetplane/platform";
import { CSR_OPTIONS } from "./certificate-authority-choice.js";
import { CONSOLE_OPTION } from "./console-choice.js";
import { ADMIN_ACCESS_OPTIONS } from "./admin-access-choice.js";
import { INTERNAL_CLIENT_OPTIONS, INTERNAL_TLS_CA_OPTION, internalListenerOptions } from "./internal-listener-choice.js";
import { AGENT_RETENTION_OPTION } from "./agent-retention-choice.js";
import { AGENT_AUTH_OPTIONS } from "./agent-auth-choice.js";
import { OPAMP_TLS_OPTIONS } from "./opamp-tls-choice.js";

/**
 * The flags (and so the FLEETPLANE_* variables) of each server command. Kept
 * apart from main.ts, which starts the CLI when loaded, so that checks such as
 * the Helm chart test can read what the CLI accepts.
 */

const seconds = (ms: number) => String(ms / 1000);

/** How the gateway treats agents (GatewaySettings, defaults from there); the same in standalone and alone. */
const GATEWAY_LIMIT_OPTIONS: OptionSpec[] = [
  { name: "max-message-bytes", kind: "number", description: "Largest OpAMP message accepted or sent", default: String(GATEWAY_DEFAULTS.maxMessageBytes) },
  {
    name: "heartbeat-missed-intervals",
    kind: "number",
    description: "An HTTP agent that stops polling, or a WebSocket agent that reports heartbeats and falls silent, is marked disconnected after missing this many of its heartbeat intervals",
    default: String(GATEWAY_DEFAULTS.heartbeatMissedIntervals),
  },
  {
    name: "default-heartbeat-interval-seconds",
    kind: "number",
    description: "Heartbeat (and HTTP polling) interval assumed for an agent the server has not given one (the spec's default)",
    default: seconds(GATEWAY_DEFAULTS.defaultHeartbeatIntervalMs),
  },
  { name: "ws-ping-interval-seconds", kind: "number", description: "WebSocket ping interval; a socket that has not answered one ping by the next is closed and its agent marked disconnected (0: no pings)", default: seconds(GATEWAY_DEFAULTS.wsPingIntervalMs) },
  { name: "retry-after-seconds", kind: "number", description: "Retry hint given to agents when a dependency is down or they are refused for a limit below", default: seconds(GATEWAY_DEFAULTS.retryAfterMs) },
  {
    name: "first-message-timeout-seconds",
    kind: "number",
    description: "A WebSocket that sends no admitted AgentToServer this long after connecting is closed (1008)",
    default: seconds(GATEWAY_DEFAULTS.firstMessageTimeoutMs),
  },
  { name: "handshake-timeout-seconds", kind: "number", description: "A connection that has not sent complete request headers (a poll or a WebSocket upgrade) this long after opening is closed", default: seconds(GATEWAY_DEFAULTS.handshakeTimeoutMs) },
  {
    name: "max-connections",
    kind: "number",
    description: "Agents (WebSockets and HTTP sessions) one gateway holds at most; beyond it new agents get 503 with Retry-After, connected ones keep being served (0: no limit)",
    default: String(GATEWAY_DEFAULTS.maxConnections),
  },
  {
    name: "new-agents-per-second-per-source",
    kind: "number",
    description: "New agents admitted per second from one source address (an instance UID not admitted recently); refused with 429 + Retry-After over HTTP, UNAVAILABLE + RetryInfo over WebSocket (0: no limit)",
    default: String(GATEWAY_DEFAULTS.newAgentsPerSecondPerSource),
  },
  { name: "new-agents-per-second", kind: "number", description: "New agents admitted per second by one gateway in total, refused as above (0: no limit)", default: String(GATEWAY_DEFAULTS.newAgentsPerSecond) },
  {
    name: "max-connecting-agents",
    kind: "number",
    description:
      "Agent sessions whose first message one gateway has passed to agent-service and not yet answered, at most; beyond it new sessions are refused as above (503 over HTTP) and come back later, so a flood of agents is admitted at the rate agent-service answers, connected ones keep being served (0: no limit)",
    default: String(GATEWAY_DEFAULTS.maxConnectingAgents),
  },
  {
    name: "warning-log-interval-seconds",
    kind: "number",
    description: "Warnings about malformed or refused input are logged at most once per kind and source address per interval; all are counted in fleetplane_opamp_warnings_total",
    default: seconds(GATEWAY_DEFAULTS.warningIntervalMs),
  },
  // What one AgentToServer may carry; over a limit it is answered BAD_REQUEST naming the flag.
  { name: "max-description-attributes", kind: "number", description: "Attributes (identifying and non-identifying) an agent description may have (0: no limit)", default: String(GATEWAY_DEFAULTS.maxDescriptionAttributes) },
  { name: "max-attribute-bytes", kind: "number", description: "Bytes of one agent description attribute, key and value (0: no limit)", default: String(GATEWAY_DEFAULTS.maxAttributeBytes) },
  { name: "max-custom-message-bytes", kind: "number", description: "Bytes of a custom message from an agent (0: no limit)", default: String(GATEWAY_DEFAULTS.maxCustomMessageBytes) },
  { name: "max-effective-config-bytes", kind: "number", description: "Bytes of an agent's effective configuration (0: no limit)", default: String(GATEWAY_DEFAULTS.maxEffectiveConfigBytes) },
  { name: "max-health-components", kind: "number", description: "Components, at any depth, in an agent's health tree (0: no limit)", default: String(GATEWAY_DEFAULTS.maxHealthComponents) },
  { name: "max-health-depth", kind: "number", description: "Levels of an agent's health tree, the root being 1", default: String(GATEWAY_DEFAULTS.maxHealthDepth) },
  { name: "max-package-statuses", kind: "number", description: "Packages an agent's package statuses may list (0: no limit)", default: String(GATEWAY_DEFAULTS.maxPackageStatuses) },
  { name: "max-package-status-bytes", kind: "number", description: "Bytes of one field of an agent's package statuses: a package name, version, hash or error message (0: no limit)", default: String(GATEWAY_DEFAULTS.maxPackageStatusBytes) },
  { name: "max-available-components", kind: "number", description: "Components, at any depth, an agent's available components may list (0: no limit)", default: String(GATEWAY_DEFAULTS.maxAvailableComponents) },
  { name: "max-available-components-depth", kind: "number", description: "Levels of an agent's available components, its top-level components being 1", default: String(GATEWAY_DEFAULTS.maxAvailableComponentsDepth) },
  { name: "max-available-components-bytes", kind: "number", description: "Bytes of an agent's available components (0: no limit)", default: String(GATEWAY_DEFAULTS.maxAvailableComponentsBytes) },
  {
    name: "trusted-proxies",
    kind: "string",
    description: "Peers (IP addresses or CIDR ranges, comma separated) whose X-Forwarded-Proto and X-Forwarded-Host name the URL agents used (a proxy terminating TLS in front); from anyone else they are ignored. Default none",
  },
];

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

/** The gateway's socket work on several processes (gateway-workers/gateway-workers.ts). */
const GATEWAY_WORKERS: OptionSpec = {
  name: "workers",
  kind: "number",
  description:
    "Gateway worker processes sharing the OpAMP port (round-robin), each a gateway of its own (gateway id with -w1, -w2, …); the new-agent rates are divided among them, --max-connections holds per worker. 0: the gateway runs in this process",
  default: "0",
};

export const STANDALONE_OPTIONS: OptionSpec[] = [
  { name: "data-dir", kind: "string", description: "Directory of the embedded store", default: ".data/fleetplane" },
  { name: "opamp-host", kind: "string", description: "Address OpAMP listens on", default: "127.0.0.1" },
  { name: "opamp-port", kind: "number", description: "OpAMP port (WebSocket and plain HTTP at /v1/opamp and /api/v1/opamp)", default: "4320" },
  { name: "api-host", kind: "string", description: "Address the admin API listens on", default: "127.0.0.1" },
  { name: "api-port", kind: "number", description: "Admin API port (Connect, gRPC, gRPC-web; HTTP/1.1 and h2c, or h2 with TLS)", default: "4321" },
  CONSOLE_OPTION,
  ...ADMIN_ACCESS_OPTIONS,
  ...AGENT_AUTH_OPTIONS,
  ...OPAMP_TLS_OPTIONS,
  ...GATEWAY_LIMIT_OPTIONS,
  GATEWAY_WORKERS,
  ...CSR_OPTIONS,
  HEARTBEAT_OFFER,
  CUSTOM_CAPABILITIES,
  AGENT_RETENTION_OPTION,
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

/** The options of each service on its own (the pieces of the distributed topology). */
export const COMMAND_OPTIONS = {
  "command-service": [...common("4323", ".data/command-service"), MONGO_URL, ...ADMIN_ACCESS_OPTIONS, ...internalListenerOptions("4333")],
  "agent-service": [
    ...common("4322", ".data/agent-service"),
    MONGO_URL,
    NATS_URL,
    { name: "command-service-url", kind: "string", description: "Base URL of command-service's internal listener", default: "http://127.0.0.1:4333" },
    ...ADMIN_ACCESS_OPTIONS,
    ...internalListenerOptions("4332"),
    INTERNAL_TLS_CA_OPTION,
    { name: "reap-interval-seconds", kind: "number", description: "How often to look for gateways whose lease ran out", default: "5" },
    { name: "rollout-tick-seconds", kind: "number", description: "How often rollouts are driven (stages judged) and watched", default: "1" },
    { name: "rollout-lease-seconds", kind: "number", description: "Length of a replica's lease on a rollout (renewed every third of it); another replica takes over 1.5 leases after the last renewal", default: "15" },
    ...CSR_OPTIONS,
    CONSOLE_OPTION,
    HEARTBEAT_OFFER,
    CUSTOM_CAPABILITIES,
    AGENT_RETENTION_OPTION,
  ],
  gateway: [
    ...common("4320"),
    { name: "agent-service-url", kind: "string", description: "Base URL of agent-service's internal listener (or a load balancer in front of its replicas)", default: "http://127.0.0.1:4332" },
    ...INTERNAL_CLIENT_OPTIONS,
    NATS_URL,
    { name: "gateway-id", kind: "string", description: "Unique id of this gateway replica (letters, digits, _ and -); default: host name and random hex" },
    { name: "lease-seconds", kind: "number", description: "Length of this gateway's lease (renewed every third of it); its agents are marked disconnected 1.5 leases after its last renewal", default: String(GATEWAY_DEFAULTS.leaseSeconds) },
    ...AGENT_AUTH_OPTIONS,
    ...OPAMP_TLS_OPTIONS,
    ...GATEWAY_LIMIT_OPTIONS,
    GATEWAY_WORKERS,
  ],
} satisfies Record<string, OptionSpec[]>;

/** `fleetplane admin create-key`: a key written straight to the server's store (the first admin key). */
export const CREATE_KEY_OPTIONS: OptionSpec[] = [
  { name: "name", kind: "string", description: "Name of the key (its identity is key:<name>); letters, digits, ., _ and -" },
  { name: "role", kind: "string", description: "viewer, operator or admin", default: "admin" },
  { name: "namespace", kind: "string", description: 'Namespace the role is bound in ("*": every namespace)', default: "*" },
  { name: "data-dir", kind: "string", description: "The server's embedded store (standalone: .data/fleetplane; agent-service alone: .data/agent-service)", default: ".data/fleetplane" },
  MONGO_URL,
  { name: "log-level", kind: "string", description: "trace, debug, info, warn or error", default: "warn" },
];
