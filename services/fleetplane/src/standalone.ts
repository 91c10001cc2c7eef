import { createClient, createRouterTransport } from "@connectrpc/connect";
import { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import { CommandRecorderService } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import { firstAdminKey, type AccessRepository } from "@fleetplane/access";
import type { CustomCapabilities } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { AgentStore } from "@fleetplane/agent-service";
import { startGateway, type Gateway, gatewaySettings, type GatewaySettings } from "@fleetplane/opamp-gateway";
import { startApiServer, startInternalServer, type DualProtocolServer, createInProcessPushBus, createInProcessTransport, type TlsFiles } from "@fleetplane/platform-node";
import { isLoopbackAddress, type Logger } from "@fleetplane/platform";
import { adminAccess, type AdminAccessSettings } from "./admin-access-choice.js";
import { randomBytes } from "node:crypto";
import { chooseCertificateSigner, type CsrSettings } from "./certificate-authority-choice.js";
import { consoleWeb } from "./console-choice.js";
import { agentServiceModule, commandServiceModule } from "./service-modules.js";
import { openStores } from "./stores.js";
import { startGatewayWorkers, type GatewayWorkers } from "./gateway-workers/gateway-workers.js";

/** The whole control plane in one process; how its gateway treats agents as in GatewaySettings. */
export interface StandaloneOptions extends GatewaySettings {
  dataDir: string;
  host: string;
  opampPort: number;
  apiHost: string;
  apiPort: number;
  /** Default: "standalone-" and random hex, new on every start (see GatewayLeases). */
  gatewayId?: string;
  /** Heartbeat interval offered to agents (default 30 s; 0: none). */
  heartbeatIntervalSeconds?: number;
  /** Custom capabilities declared to agents (see AgentServiceModuleOptions); default none. */
  customCapabilities?: CustomCapabilities | undefined;
  /** Agents disconnected longer than this are removed (default 30 days; 0: kept forever). */
  agentRetentionMs?: number;
  /** TLS on the OpAMP port (https:// and wss://, reloaded on change); default plain HTTP. */
  opampTls?: TlsFiles | undefined;
  /** Certificate signing requests; default: no CA (refused). */
  csr?: CsrSettings;
  /** Serve the web console at / on the API port (default true). */
  console?: boolean;
  /** How often rollouts are driven and watched (default 1 s). */
  rolloutTickMs?: number;
  /** Credentials, Host names, CORS and TLS of the admin API; default: authentication on, loopback names. */
  access?: AdminAccessSettings;
  /**
   * On loopback with no API key in the store, make an admin key and return it
   * as `firstAdminKey` (the CLI prints it once). Default true; tests that
   * make their own keys turn it off.
   */
  firstAdminKey?: boolean;
  /**
   * The gateway on this many worker processes (gateway-workers.ts), reaching
   * agent-service over an internal listener on loopback with a token made at
   * start; default none: the gateway runs in this process.
   */
  workers?: { count: number; logLevel: string };
  logger: Logger;
}

export interface Standalone {
  opampPort: number;
  apiPort: number;
  gatewayId: string;
  /** The in-process gateway; undefined with gateway workers (see `workers`). */
  gateway: Gateway | undefined;
  /** The gateway workers, when started with some. */
  workers: GatewayWorkers | undefined;
  agents: AgentStore;
  /** Keys, role bindings and access events (tests make their keys here). */
  access: AccessRepository;
  /** The admin key made at this first start (loopback, empty key store), to be shown once; never logged. */
  firstAdminKey: string | undefined;
  /** "http" or "https" (with --api-tls-cert). */
  apiScheme: "http" | "https";
  /** "ws" or "wss" (with --tls-cert). */
  opampScheme: "ws" | "wss";
  close(): Promise<void>;
}

/**
 * Standalone mode: gateway, agent-service and command-service in one process,
 * on an embedded LMDB store and an in-process push bus. The gateway still
 * reaches the services only through their generated Connect clients (over an
 * in-process transport that calls the service implementations directly), so
 * distributed mode swaps transports, not code paths.
 */
export async function startStandalone(o: StandaloneOptions): Promise<Standalone> {
  const signer = await chooseCertificateSigner(o.csr ?? {}, { dataDir: o.dataDir, logger: o.logger });
  const stores = await openStores({ dataDir: o.dataDir, logger: o.logger });
  const bus = createInProcessPushBus();

  const commandService = commandServiceModule(stores, o.logger.child({ component: "command-service" }));
  // The internal services are called in process: no listener, no token.
  const commandClient = createClient(CommandRecorderService, createInProcessTransport(commandService.internal, createRouterTransport(commandService.internalRoutes)));
  // Without --csr-opamp-endpoint, agents are offered this process's own
  // OpAMP address with their certificate (known once the gateway listens).
  let ownOpampUrl = "";
  const agentService = agentServiceModule(stores, commandClient, bus, o.logger.child({ component: "agent-service" }), {
    certificates: { signer, approval: o.csr?.approval ?? "manual", opampEndpoint: () => o.csr?.opampEndpoint ?? ownOpampUrl },
    ...(o.heartbeatIntervalSeconds !== undefined ? { heartbeatIntervalSeconds: o.heartbeatIntervalSeconds } : {}),
    customCapabilities: o.customCapabilities,
    // One replica: the same name after a restart, so its rollouts resume at once.
    replicaId: "standalone",
    // One replica stores every change: its group status counts never need a recount.
    groupStatusMaxAgeMs: Number.POSITIVE_INFINITY,
    ...(o.rolloutTickMs ? { rolloutTickMs: o.rolloutTickMs } : {}),
    ...(o.agentRetentionMs !== undefined ? { agentRetentionMs: o.agentRetentionMs } : {}),
  });
  const agentTransport = createInProcessTransport(agentService.internal, createRouterTransport(agentService.internalRoutes));

  // In standalone the process is the gateway's epoch: whatever an earlier
  // process left connected (kill -9, a power cut) is disconnected before the
  // new gateway takes agents, so reconnecting agents are not mistaken for
  // duplicates of connections that died with it.
  const reaped = await agentService.leases.reapPrevious();
  if (reaped > 0) o.logger.warn({ agents: reaped }, "the previous process did not stop cleanly: its agents are marked disconnected");

  const gatewayId = o.gatewayId ?? `standalone-${randomBytes(4).toString("hex")}`;
  let gateway: Gateway | undefined;
  let workers: GatewayWorkers | undefined;
  let internal: DualProtocolServer | undefined;
  let opampPort: number;
  let opampScheme: "ws" | "wss";
  if (o.workers && o.workers.count > 0) {
    // The workers are other processes: they reach agent-service like remote
    // gateways do, on an internal listener — loopback only, and with a
    // service token made now and handed to them over their IPC channel.
    const token = randomBytes(32).toString("hex");
    internal = await startInternalServer({ host: "127.0.0.1", port: 0, token, routes: agentService.internalRoutes, logger: o.logger.child({ component: "internal" }) });
    workers = await startGatewayWorkers({
      count: o.workers.count,
      gatewayIdPrefix: gatewayId,
      base: {
        host: o.host,
        port: o.opampPort,
        settings: gatewaySettings(o),
        tls: o.opampTls,
        agentServiceUrl: `http://127.0.0.1:${internal.port}`,
        internal: { token },
        logLevel: o.workers.logLevel,
      },
      pushes: bus,
      // This process runs agent-service: connections must not wait on it.
      accept: "workers",
      logger: o.logger.child({ component: "gateway-workers" }),
    });
    opampPort = workers.port;
    opampScheme = o.opampTls ? "wss" : "ws";
  } else {
    gateway = await startGateway({
      ...gatewaySettings(o),
      // A new id per start: if the last run died without cleaning up, its
      // lease runs out and its agents are marked disconnected.
      gatewayId,
      host: o.host,
      port: o.opampPort,
      agentService: createClient(AgentGatewayService, agentTransport),
      bus,
      logger: o.logger.child({ component: "opamp-gateway" }),
      tls: o.opampTls,
    });
    opampPort = gateway.port;
    opampScheme = gateway.transport.webSocketScheme;
  }

  ownOpampUrl = `${opampScheme}://${o.host.includes(":") ? `[${o.host}]` : o.host}:${opampPort}/v1/opamp`;

  const access = adminAccess(o.access ?? { auth: "on" }, stores.access, o.logger.child({ component: "access" }), bus);
  const api: DualProtocolServer = await startApiServer({
    host: o.apiHost,
    port: o.apiPort,
    logger: o.logger,
    ...access.server,
    routes: (r) => {
      agentService.routes(r);
      commandService.routes(r);
      for (const { service, impl } of access.services) r.service(service, impl as never);
    },
    ready: async () => {
      await commandService.audit.ping();
      return true;
    },
    web: consoleWeb(o.console, o.logger.child({ component: "console" }), o.access?.consoleOidc),
  });

  const authOn = (o.access?.auth ?? "on") === "on";
  const firstKey = authOn && o.firstAdminKey !== false && isLoopbackAddress(o.apiHost) ? await firstAdminKey(stores.access) : undefined;

  return {
    opampPort,
    apiPort: api.port,
    gatewayId,
    gateway,
    workers,
    agents: agentService.agents,
    access: stores.access,
    firstAdminKey: firstKey,
    apiScheme: api.scheme,
    opampScheme,
    async close() {
      // Order matters: stop taking agents, let cleanups mark them
      // disconnected, flush what is cached, then close the store.
      // Rollouts stop being judged first: the gateway closing disconnects
      // every agent, which is no verdict on a stage.
      await agentService.stopRollouts();
      await gateway?.close();
      await workers?.close();
      await internal?.close();
      await api.close();
      await access.close();
      await agentService.close();
      await commandService.close();
      await bus.close();
      await stores.close();
    },
  };
}
