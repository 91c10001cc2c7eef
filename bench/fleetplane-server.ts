import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createFleetplaneClient, type FleetplaneClient } from "@fleetplane/client";
import { stopChild } from "../test/support/child-process.js";
import { startDistributed } from "../test/support/distributed.js";

const ROOT = join(import.meta.dirname, "..");
const mainOf = (checkout: string) => join(checkout, "services", "fleetplane", "src", "main.ts");
/** Whether the build at `checkout` has --max-connecting-agents. */
const knowsMaxConnecting = (checkout: string) => readFileSync(join(checkout, "services", "fleetplane", "src", "command-options.ts"), "utf8").includes("max-connecting-agents");

/** A server under test: where agents and admins go, and which processes to measure. */
export interface ServerUnderTest {
  name: string;
  opampWsUrl: string;
  /** Admin API (Connect) base URL, when the server has ours. */
  apiUrl?: string;
  /** An admin API key for it (sent as authorization: Bearer …). */
  apiKey?: string;
  /** The process holding agent sockets (for per-connection memory). */
  gatewayPid: number;
  /** The processes holding agent sockets when not just gatewayPid (gateway workers). */
  socketPids?: number[];
  /** Every process of the deployment (for CPU and memory totals). */
  pids: number[];
  /** What each of `pids` is (distributed: "gateway-a", "agent-service", …), for per-process figures. */
  pidNames?: string[];
  /** Admin URLs of the processes that use a shared store, whose /metrics count its operations (distributed). */
  storeUsers?: string[];
  stop(): Promise<void>;
}

/**
 * Fleetplane standalone as a child process, logging warnings only; built
 * from `o.checkout` (default: this one), so that `pnpm bench ab` can run
 * another build of the project beside this one; `workers`: --workers N
 * (gateway worker processes).
 */
export async function startStandaloneServer(o: { workers?: number; args?: string[]; checkout?: string; name?: string } = {}): Promise<ServerUnderTest> {
  const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-bench-"));
  // FLEETPLANE_BENCH_NODE_ARGS adds Node flags to the server, e.g.
  // "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it under a scenario.
  const nodeArgs = (process.env.FLEETPLANE_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
  // New-agent admission off: the bench's agents all come from this one
  // address, and a connect storm measures throughput, not the rate limit
  // nor --max-connecting-agents (idle100k sets that one again; a build from
  // before it, as `ab`'s base may be, has no limit and no flag: asked
  // whether its command options name it, since a base that has the flag
  // and is not given 0 refuses most of a storm and retries it).
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", mainOf(o.checkout ?? ROOT), "standalone", "--opamp-port", "0", "--api-port", "0", "--data-dir", dataDir, "--log-level", "warn", "--new-agents-per-second-per-source", "0", "--new-agents-per-second", "0", ...(knowsMaxConnecting(o.checkout ?? ROOT) ? ["--max-connecting-agents", "0"] : []), ...(o.workers ? ["--workers", String(o.workers)] : []), ...(o.args ?? [])], {
    stdio: ["ignore", "inherit", "pipe"],
  });
  // The start-up banner on stderr names both addresses and, on this first
  // start of an empty store, the admin key (info logs are off).
  const urls = await new Promise<{ opamp: string; api: string; key: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("Fleetplane standalone did not start within 120 s")), 120_000);
    child.once("exit", (code) => reject(new Error(`Fleetplane standalone exited with ${code}`)));
    let opamp = "";
    let api = "";
    let key = "";
    createInterface({ input: child.stderr! }).on("line", (line) => {
      const o = /OpAMP:\s+(ws:\/\/\S+)/.exec(line);
      if (o) opamp = o[1]!;
      const a = /Admin API:\s+(http:\/\/\S+)/.exec(line);
      if (a) api = a[1]!;
      const k = /Admin key:\s+(fpk_\S+)/.exec(line);
      if (k) key = k[1]!;
      if (/^\s+Data:/.test(line) && opamp && api) {
        clearTimeout(timer);
        resolve({ opamp, api, key });
      }
      if (!o && !a && !k && line.trim()) process.stderr.write(`[fleetplane] ${line}\n`);
    });
  });
  const workers = o.workers ? gatewayWorkerPids(child.pid!) : [];
  return {
    name: o.name ?? (o.workers ? `fleetplane (standalone, ${o.workers} worker${o.workers > 1 ? "s" : ""})` : "fleetplane (standalone)"),
    opampWsUrl: urls.opamp,
    apiUrl: urls.api,
    apiKey: urls.key,
    gatewayPid: workers[0] ?? child.pid!,
    ...(o.workers ? { socketPids: workers } : {}),
    pids: [child.pid!, ...workers],
    async stop() {
      await stopChild(child, "SIGTERM", 20_000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The gateway worker processes of a standalone process (its children running gateway-worker-main). */
function gatewayWorkerPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((c) => readFileSync(`/proc/${c}/cmdline`, "utf8").includes("gateway-worker-main"));
}

/**
 * Fleetplane distributed: 2 gateways, agent-service, command-service, NATS, FerretDB (agents use gateway A).
 * With `mongoUrl` (pnpm bench --mongo-url) the services use that running MongoDB-wire store, on a fresh
 * database dropped at stop, instead of a FerretDB 1.x started here.
 */
export async function startDistributedServer(o: { mongoUrl?: string } = {}): Promise<ServerUnderTest> {
  // Production lease lengths (the gateways' and --rollout-lease-seconds' defaults), not the tests' 3 s.
  // Agents unauthenticated, as standalone's here (--agent-auth none, loopback): the simulator sends no
  // token, and the tests' default (token) refused every bench agent.
  const d = await startDistributed({ leaseSeconds: 30, rolloutLeaseSeconds: 15, agentAuth: "none", ...(o.mongoUrl ? { externalMongoUrl: o.mongoUrl } : {}) });
  const processes = [...d.gateways, d.agentService, d.commandService].filter((p) => p.pid);
  const pids = processes.map((p) => p.pid!);
  const pidNames = processes.map((p) => p.name);
  return {
    name: o.mongoUrl ? "fleetplane (distributed, external store)" : "fleetplane (distributed)",
    opampWsUrl: d.wsUrlOf(0),
    apiUrl: d.agentService.url,
    apiKey: d.adminKey,
    gatewayPid: d.gateways[0]!.pid!,
    pids,
    pidNames,
    storeUsers: [d.agentService.url, d.commandService.url],
    stop: () => d.close(),
  };
}

/** The typed admin client for a server under test, with its admin key. */
export function adminClientOf(server: ServerUnderTest): FleetplaneClient {
  if (!server.apiUrl) throw new Error(`${server.name} has no Fleetplane admin API`);
  return createFleetplaneClient({ baseUrl: server.apiUrl, httpVersion: "2", ...(server.apiKey ? { apiKey: server.apiKey } : {}) });
}
