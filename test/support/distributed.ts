import { execFile, spawn, type ChildProcess } from "node:child_process";
import { EnrollmentService } from "@fleetplane/gen/fleetplane/agent/v1/enrollment_service_pb";
import { registerAgentToken } from "./agent-tokens.js";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CertificateService } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import type { CsrApproval } from "@fleetplane/agent-service";
import { writeTestCa } from "./csr.js";
import { PackageService } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { NamespaceService } from "@fleetplane/gen/fleetplane/fleet/v1/namespace_service_pb";
import { ConfigurationService } from "@fleetplane/gen/fleetplane/fleet/v1/configuration_service_pb";
import { GroupService } from "@fleetplane/gen/fleetplane/fleet/v1/group_service_pb";
import { RolloutService } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_service_pb";
import { AccessService } from "@fleetplane/gen/fleetplane/access/v1/access_service_pb";
import { bearer } from "./admin-key.js";
import { startFerretDb } from "./ferretdb.js";
import { useExternalMongo } from "./external-mongo.js";
import { stopChild } from "./child-process.js";
import { nodeFlagsFor } from "../../services/fleetplane/bin/node-flags.mjs";
import { freePort } from "./free-port.js";
import { startNats, type RunningNats } from "./nats.js";
import type { TestTopology } from "./topology.js";

const MAIN = join(import.meta.dirname, "..", "..", "services", "fleetplane", "src", "main.ts");

// Children still running are killed when this process exits, so a run that
// failed before close() leaves no servers behind (best effort: "exit" does
// not fire when a test runner kills its worker).
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** One `fleetplane <service>` child process on a fixed port, restartable on that port. */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private lines: string[] = [];

  constructor(
    readonly name: string,
    readonly command: string,
    readonly port: number,
    private readonly args: string[],
    private readonly echo = Boolean(process.env.FLEETPLANE_TEST_LOGS),
    private readonly env: NodeJS.ProcessEnv = {},
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the process and waits for its "<command> is running" log line. */
  async start(): Promise<void> {
    // FLEETPLANE_BENCH_NODE_ARGS (the bench's, e.g. "--cpu-prof --cpu-prof-dir=DIR") reaches every service process too.
    const nodeArgs = (process.env.FLEETPLANE_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
    // The flags `fleetplane <command>` runs with through its launcher (bin/node-flags.mjs), as users start it.
    const flags = nodeFlagsFor(this.command, nodeArgs, { ...process.env, ...this.env }.NODE_OPTIONS);
    const child = spawn(process.execPath, [...nodeArgs, ...flags, "--import", "tsx", MAIN, this.command, "--port", String(this.port), ...this.args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...this.env },
    });
    this.child = child;
    live.add(child);
    child.once("exit", () => live.delete(child));
    const keep = (line: string) => {
      this.lines.push(line);
      if (this.lines.length > 200) this.lines.shift();
      if (this.echo) process.stderr.write(`[${this.name}] ${line}\n`);
    };
    createInterface({ input: child.stderr! }).on("line", keep);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not start within 30 s:\n${this.log()}`)), 30_000);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited with ${code} while starting:\n${this.log()}`));
      });
      createInterface({ input: child.stdout! }).on("line", (line) => {
        keep(line);
        if (line.includes(`"msg":"${this.command} is running"`)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  /** SIGTERM (graceful) or SIGKILL (a crash). */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.child) await stopChild(this.child, signal, 15_000);
    this.child = undefined;
  }

  /** The last lines this process logged (for failure messages). */
  log(): string {
    return this.lines.slice(-40).join("\n");
  }

  /** Whether the process logged a line containing `text`. */
  logged(text: string): boolean {
    return this.lines.some((l) => l.includes(text));
  }
}

/** Runs `fleetplane admin create-key` with `args` and returns the key it prints. */
export async function createAdminKey(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", MAIN, "admin", "create-key", ...args], { timeout: 60_000 });
  return stdout.trim();
}

export interface DistributedOptions {
  /** The gateways' --lease-seconds (default 3: a killed gateway's agents are seen gone within seconds). */
  leaseSeconds?: number;
  /** agent-service's --rollout-lease-seconds (default 3: a killed leader's rollout is taken over within seconds). */
  rolloutLeaseSeconds?: number;
  /** Echo every process's log lines to stderr, prefixed with its name (default: $FLEETPLANE_TEST_LOGS). */
  logs?: boolean;
  maxMessageBytes?: number;
  heartbeatMissedIntervals?: number;
  defaultHeartbeatIntervalMs?: number;
  /** Heartbeat interval agent-service offers (seconds). */
  heartbeatIntervalSeconds?: number;
  wsPingIntervalMs?: number;
  /** With a policy, agent-service signs agents' CSRs with a fresh CA. */
  csrApproval?: CsrApproval;
  /** --custom-capabilities of agent-service (comma separated). */
  customCapabilities?: string;
  /**
   * 2: a second agent-service replica on the same store and bus, which
   * gateway-b reports to (admin calls still go to the first): what one
   * replica changes must reach agents that report to the other.
   */
  agentServiceReplicas?: 1 | 2;
  /** What gateways ask agents for (default "token": the simulated agents send a token made at start). */
    /**
   * TLS on both internal listeners with this pair (a certificate for
   * 127.0.0.1), the clients (gateways, agent-service) trusting `caFile`
   * through --internal-tls-ca.
   */
  internalTls?: { caFile: string; certFile: string; keyFile: string };
  agentAuth?: "none" | "token" | "mtls" | "token+mtls";
  /** TLS on the gateways' OpAMP ports (then the URLs are wss:// and https://). */
  opampTls?: { certFile: string; keyFile: string };
  /** With opampTls and csrApproval: the CSR CA is also the gateways' --agent-client-ca (mTLS). */
  clientCaIsCsrCa?: boolean;
  /** gateway-a runs on this many worker processes (--workers), each a gateway of its own: gw-a-w1, gw-a-w2, … */
  gatewayWorkers?: number;
  /**
   * A MongoDB-wire store already running (mongodb://host:port/, no database): used, with a fresh
   * database dropped at close, instead of starting FerretDB 1.x. For benchmarks on a faster store;
   * stopDatabase/startDatabase are then refused (the store is not ours to stop).
   */
  externalMongoUrl?: string;
}

/** stopDatabase/startDatabase on a topology whose store someone else runs. */
export class ExternalStoreNotOursError extends Error {
  constructor(readonly operation: string) {
    super(`${operation}: the topology uses an external MongoDB store (externalMongoUrl), which it does not start or stop`);
    this.name = "ExternalStoreNotOursError";
  }
}

export type Distributed = Awaited<ReturnType<typeof startDistributed>>;

/**
 * The production topology on loopback: a real nats-server, a real
 * MongoDB-wire server (FerretDB), command-service, agent-service and two
 * gateways, each its own `fleetplane` process. Admin calls go to
 * agent-service, which is never the process holding an agent's socket.
 */
export async function startDistributed(o: DistributedOptions = {}) {
  const nats = await startNats();
  const external = o.externalMongoUrl !== undefined;
  const ferretDataDir = external ? "" : mkdtempSync(join(tmpdir(), "fleetplane-ferret-"));
  const ferretPort = external ? 0 : await freePort();
  const db = { current: external ? await useExternalMongo(o.externalMongoUrl!) : await startFerretDb({ port: ferretPort, dataDir: ferretDataDir }) };
  const natsState: { current: RunningNats | undefined } = { current: nats };
  const mongoUrl = db.current.uri;

  const ca = o.csrApproval ? await writeTestCa(mkdtempSync(join(tmpdir(), "fleetplane-ca-"))) : undefined;
  const csrArgs = ca
    ? ["--csr-ca-cert", ca.caCertFile, "--csr-ca-key", ca.caKeyFile, "--csr-approval", o.csrApproval!, "--csr-opamp-endpoint", "wss://opamp.example.test/v1/opamp"]
    : [];
  // The first admin key, made as an operator would: `fleetplane admin create-key` on the store.
  const adminKey = await createAdminKey(["--mongo-url", mongoUrl, "--name", "test-admin"]);
  // The services' shared secret for their internal listeners.
  const tokenFile = join(mkdtempSync(join(tmpdir(), "fleetplane-token-")), "internal-token");
  writeFileSync(tokenFile, randomBytes(32).toString("hex"), { mode: 0o600 });
  const tlsArgs = o.internalTls ? ["--internal-tls-cert", o.internalTls.certFile, "--internal-tls-key", o.internalTls.keyFile] : [];
  const internal = (port: number) => ["--internal-port", String(port), "--internal-token-file", tokenFile, ...tlsArgs];
  const internalScheme = o.internalTls ? "https" : "http";
  const trustArgs = o.internalTls ? ["--internal-tls-ca", o.internalTls.caFile] : [];
  const commandInternalPort = await freePort();
  const agentInternalPorts = [await freePort(), await freePort()];
  const commandService = new ServiceProcess("command-service", "command-service", await freePort(), ["--mongo-url", mongoUrl, ...internal(commandInternalPort)], o.logs);
  const agentServiceArgs = (internalPort: number) => [
    "--mongo-url",
    mongoUrl,
    "--nats-url",
    nats.url,
    ...internal(internalPort),
    "--command-service-url",
    `${internalScheme}://127.0.0.1:${commandInternalPort}`,
    ...trustArgs,
    "--reap-interval-seconds",
    "1",
    // Rollouts judged often, and a dead replica's rollouts taken over soon.
    "--rollout-tick-seconds",
    "0.5",
    "--rollout-lease-seconds",
    String(o.rolloutLeaseSeconds ?? 3),
    ...csrArgs,
    ...(o.heartbeatIntervalSeconds !== undefined ? ["--heartbeat-interval-seconds", String(o.heartbeatIntervalSeconds)] : []),
    ...(o.customCapabilities ? ["--custom-capabilities", o.customCapabilities] : []),
  ];
  // Each agent-service replica serves its own internal listener; a gateway reports to one of them.
  const agentService = Object.assign(new ServiceProcess("agent-service", "agent-service", await freePort(), agentServiceArgs(agentInternalPorts[0]!), o.logs), { internalPort: agentInternalPorts[0]! });
  const secondReplica =
    o.agentServiceReplicas === 2
      ? Object.assign(new ServiceProcess("agent-service-2", "agent-service", await freePort(), agentServiceArgs(agentInternalPorts[1]!), o.logs), { internalPort: agentInternalPorts[1]! })
      : undefined;
  const gatewayArgs = (id: string, replica = agentService) => [
    "--gateway-id",
    id,
    "--agent-service-url",
    `${internalScheme}://127.0.0.1:${replica.internalPort}`,
    ...trustArgs,
    "--internal-token-file",
    tokenFile,
    "--nats-url",
    nats.url,
    "--lease-seconds",
    String(o.leaseSeconds ?? 3),
    "--retry-after-seconds",
    "1",
    "--agent-auth",
    o.agentAuth ?? "token",
    ...(o.opampTls ? ["--tls-cert", o.opampTls.certFile, "--tls-key", o.opampTls.keyFile] : []),
    ...(o.opampTls && o.clientCaIsCsrCa && ca ? ["--agent-client-ca", ca.caCertFile] : []),
    ...(o.maxMessageBytes ? ["--max-message-bytes", String(o.maxMessageBytes)] : []),
    ...(o.heartbeatMissedIntervals ? ["--heartbeat-missed-intervals", String(o.heartbeatMissedIntervals)] : []),
    ...(o.defaultHeartbeatIntervalMs ? ["--default-heartbeat-interval-seconds", String(o.defaultHeartbeatIntervalMs / 1000)] : []),
    ...(o.wsPingIntervalMs ? ["--ws-ping-interval-seconds", String(o.wsPingIntervalMs / 1000)] : []),
  ];
  const gateways = [
    new ServiceProcess("gateway-a", "gateway", await freePort(), [...gatewayArgs("gw-a"), ...(o.gatewayWorkers ? ["--workers", String(o.gatewayWorkers)] : [])], o.logs),
    new ServiceProcess("gateway-b", "gateway", await freePort(), gatewayArgs("gw-b", secondReplica), o.logs),
  ];
  const processes = [commandService, agentService, ...(secondReplica ? [secondReplica] : []), ...gateways];
  try {
    await commandService.start();
    await agentService.start();
    await secondReplica?.start();
    await Promise.all(gateways.map((g) => g.start()));
  } catch (err) {
    await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    await db.current.stop();
    await nats.stop();
    throw err;
  }

  const h1 = (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(adminKey)] });
  const enrollment = createClient(EnrollmentService, h1(agentService.url));
  // The token the simulated agents present to every gateway (a gateway restarted keeps its port).
  const agentToken = (o.agentAuth ?? "token").startsWith("token") ? (await enrollment.createEnrollmentToken({ description: "test agents" })).secret : undefined;
  if (agentToken) for (const g of gateways) registerAgentToken(g.port, agentToken);
  const [ws, web] = o.opampTls ? ["wss", "https"] : ["ws", "http"];
  const topology: TestTopology = {
    wsUrl: `${ws}://127.0.0.1:${gateways[0]!.port}/v1/opamp`,
    httpUrl: `${web}://127.0.0.1:${gateways[0]!.port}/v1/opamp`,
    gatewayIds: [...(o.gatewayWorkers ? Array.from({ length: o.gatewayWorkers }, (_, i) => `gw-a-w${i + 1}`) : ["gw-a"]), "gw-b"],
    agents: createClient(AgentService, h1(agentService.url)),
    connections: createClient(ConnectionService, h1(agentService.url)),
    commands: createClient(CommandService, h1(commandService.url)),
    certificates: createClient(CertificateService, h1(agentService.url)),
    ...(ca ? { caCertPem: ca.caCertPem, caKeyPem: ca.caKeyPem } : {}),
    packages: createClient(PackageService, h1(agentService.url)),
    namespaces: createClient(NamespaceService, h1(agentService.url)),
    configurations: createClient(ConfigurationService, h1(agentService.url)),
    groups: createClient(GroupService, h1(agentService.url)),
    rollouts: createClient(RolloutService, h1(agentService.url)),
    opampUrls: gateways.map((g) => ({ wsUrl: `${ws}://127.0.0.1:${g.port}/v1/opamp`, httpUrl: `${web}://127.0.0.1:${g.port}/v1/opamp` })),
    access: createClient(AccessService, h1(agentService.url)),
    enrollment,
    ...(agentToken ? { agentToken } : {}),
    adminKey,
    adminIdentity: "key:test-admin",
    async close() {
      // Gateways first (they clean up through agent-service), then services.
      await Promise.all(gateways.map((g) => g.stop()));
      await agentService.stop();
      await secondReplica?.stop();
      await commandService.stop();
      await db.current.stop({ removeData: true });
      await natsState.current?.stop();
    },
  };
  return {
    ...topology,
    wsUrlOf: (i: number) => `${ws}://127.0.0.1:${gateways[i]!.port}/v1/opamp`,
    httpUrlOf: (i: number) => `${web}://127.0.0.1:${gateways[i]!.port}/v1/opamp`,
    gateways,
    agentService,
    /** The second agent-service replica (agentServiceReplicas: 2), on the same store and bus. */
    secondReplica,
    /** Every agent-service replica (the second only with agentServiceReplicas: 2). */
    agentServices: secondReplica ? [agentService, secondReplica] : [agentService],
    /** A rollout client on replica `i` (to keep operating when another is killed). */
    rolloutsOn: (i: number) => createClient(RolloutService, h1((i === 0 ? agentService : secondReplica!).url)),
    natsUrl: nats.url,
    mongoUrl,
    tokenFile,
    agentInternalUrl: `${internalScheme}://127.0.0.1:${agentService.internalPort}`,
    commandInternalUrl: `${internalScheme}://127.0.0.1:${commandInternalPort}`,
    commandService,
    /** Stops NATS (agents stay connected to their gateways). */
    stopNats: async () => {
      await natsState.current?.stop();
      natsState.current = undefined;
    },
    /** Starts NATS again on the same port. */
    startNats: async () => {
      natsState.current = await startNats({ port: nats.port });
    },
    stopDatabase: () => (external ? Promise.reject(new ExternalStoreNotOursError("stopDatabase")) : db.current.stop()),
    startDatabase: async () => {
      if (external) throw new ExternalStoreNotOursError("startDatabase");
      db.current = await startFerretDb({ port: ferretPort, dataDir: ferretDataDir });
    },
    /** Freezes the database (SIGSTOP): connections stay open, nothing answers. */
    freezeDatabase: () => {
      if (!("freeze" in db.current)) throw new ExternalStoreNotOursError("freezeDatabase");
      db.current.freeze();
    },
    thawDatabase: () => {
      if (!("thaw" in db.current)) throw new ExternalStoreNotOursError("thawDatabase");
      db.current.thaw();
    },
  };
}
