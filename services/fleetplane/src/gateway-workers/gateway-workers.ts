import cluster, { type Worker } from "node:cluster";
import { join } from "node:path";
import type { GatewaySettings } from "@fleetplane/opamp-gateway";
import { addMetricsSource, type TlsFiles } from "@fleetplane/platform-node";
import type { Logger, PushBus, PushSubscription } from "@fleetplane/platform";
import type { InternalClientSettings } from "../internal-listener-choice.js";
import { forwardPushesTo } from "./worker-channel-push-bus.js";
import { askWorkersForMetrics, type MetricsAnswer, type MetricsRequest } from "./worker-metrics.js";
import { bundleWorker } from "./worker-bundle.js";

/**
 * What one gateway worker is told at start (over its IPC channel, never argv
 * or the environment: the internal token must not show in `ps`).
 */
export interface GatewayWorkerSpec {
  gatewayId: string;
  host: string;
  port: number;
  settings: GatewaySettings;
  tls?: TlsFiles | undefined;
  /** agent-service's internal listener (the standalone process's own, on loopback, in standalone). */
  agentServiceUrl: string;
  /** The service token (and CAs for https://) for agent-service's internal listener. */
  internal: InternalClientSettings;
  /** Pushes from NATS (distributed), or from the primary over the IPC channel when unset (standalone). */
  natsUrl?: string | undefined;
  logLevel: string;
}

/** Primary ↔ worker messages (besides the pushes of worker-channel-push-bus.ts). */
export type ToGatewayWorker = { kind: "start"; spec: GatewayWorkerSpec } | { kind: "stop" } | MetricsRequest;
export type FromGatewayWorker = { kind: "ready" } | { kind: "listening"; port: number } | { kind: "stopped" } | { kind: "failed"; error: string } | MetricsAnswer;

export interface GatewayWorkers {
  /** The OpAMP port all workers share. */
  readonly port: number;
  /** The gateway id of each live worker (one lease, one push subject each). */
  gatewayIds(): string[];
  /** Process ids of the live workers (to measure them). */
  pids(): number[];
  /** Stops every worker gracefully (each closes its agents' sockets with 1001 and finishes its cleanups) and waits for them to exit. */
  close(): Promise<void>;
}

export interface GatewayWorkersOptions {
  count: number;
  /** Worker i is `${gatewayIdPrefix}-w${i}` (a restarted one `-w${i}r${n}`). */
  gatewayIdPrefix: string;
  base: Omit<GatewayWorkerSpec, "gatewayId">;
  /** Standalone: the in-process bus agent-service publishes on; each worker's notices are forwarded over its channel. */
  pushes?: PushBus;
  /**
   * Who accepts connections. "round-robin": the primary accepts each one and
   * hands it to the next worker (even spread; right when the primary has
   * nothing else to do, as `fleetplane gateway`). "workers": the workers
   * accept on the shared socket themselves, the least busy first — right in
   * standalone, where the primary runs agent-service: there a busy primary
   * queued connections it could not hand off fast enough and ran out of open
   * files (seen at 3,000 agents of a 100,000-agent ramp).
   */
  accept: "round-robin" | "workers";
  logger: Logger;
}

const WORKER_MAIN = join(import.meta.dirname, "gateway-worker-main.ts");
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const RESTART_DELAY_MS = 1_000;

/**
 * The gateway's socket work on several processes (Node's cluster module:
 * the workers share the OpAMP port, so every core parses, answers and holds
 * sockets; see `accept` for who accepts). Each worker is a whole gateway with its own gateway id — its own
 * lease, its own push subject, its own connections in agent-service — so
 * agent state stays in the one agent-service, exactly as with separate
 * gateway replicas; a worker that dies is restarted under a new id and its
 * agents, reconnecting, land on the others.
 *
 * The new-agent rate limits and --max-connecting-agents protect
 * agent-service, which all workers share: they are divided among the
 * workers, so together they keep the limit set.
 * --max-connections protects one gateway process (its open files, its
 * memory): each worker is one, so it holds per worker.
 */
export async function startGatewayWorkers(o: GatewayWorkersOptions): Promise<GatewayWorkers> {
  if (!cluster.isPrimary) throw new Error("gateway workers are started by the primary process");
  // Set before the first fork (it is read then, once per process).
  cluster.schedulingPolicy = o.accept === "round-robin" ? cluster.SCHED_RR : cluster.SCHED_NONE;
  const program = await workerProgram(o.logger);
  cluster.setupPrimary({ exec: program.exec, args: [], execArgv: program.execArgv, silent: false });
  const settings = perWorker(o.base.settings, o.count);
  const live = new Map<number, { worker: Worker; gatewayId: string; pushes?: PushSubscription }>();
  let stopping = false;
  let port = o.base.port;
  // Every worker asks for o.base.port as given, even 0: the cluster primary
  // keys its shared listener by the address asked for, so asking for the
  // port 0 turned into would be a second listener on a taken port.

  const startOne = async (slot: number, gatewayId: string): Promise<number> => {
    const worker = cluster.fork(workerEnv(process.env));
    const entry: { worker: Worker; gatewayId: string; pushes?: PushSubscription } = { worker, gatewayId };
    live.set(slot, entry);
    if (o.pushes) entry.pushes = await forwardPushesTo(o.pushes, gatewayId, worker);
    const listening = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gateway worker ${gatewayId} did not listen within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      worker.on("message", (m: FromGatewayWorker) => {
        // A message sent before the worker listens for one would be lost: it says when.
        if (m.kind === "ready") worker.send({ kind: "start", spec: { ...o.base, settings, gatewayId } } satisfies ToGatewayWorker);
        if (m.kind === "listening") (clearTimeout(timer), resolve(m.port));
        if (m.kind === "failed") (clearTimeout(timer), reject(new Error(`gateway worker ${gatewayId} failed to start: ${m.error}`)));
      });
      worker.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`gateway worker ${gatewayId} exited (${signal ?? code}) before listening`));
      });
    });
    worker.once("exit", (code, signal) => {
      void entry.pushes?.unsubscribe();
      if (live.get(slot) === entry) live.delete(slot);
      if (stopping) return;
      // Its lease runs out and agent-service marks its agents disconnected;
      // they reconnect to the other workers meanwhile.
      o.logger.error({ gateway: gatewayId, pid: worker.process.pid, code, signal }, "a gateway worker exited; starting a new one");
      setTimeout(() => {
        if (!stopping) void startOne(slot, `${o.gatewayIdPrefix}-w${slot}r${restarts++}`).catch((err) => o.logger.error({ err: String(err) }, "a gateway worker could not be restarted"));
      }, RESTART_DELAY_MS).unref();
    });
    return listening;
  };
  let restarts = 1;

  // The primary's /metrics shows the workers' too (summed with its own).
  const stopShowingMetrics = addMetricsSource(() => askWorkersForMetrics([...live.values()].map((e) => e.worker)));
  const close = async () => {
    stopping = true;
    stopShowingMetrics();
    await Promise.all(
      [...live.values()].map(
        ({ worker, gatewayId, pushes }) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              o.logger.warn({ gateway: gatewayId }, `a gateway worker did not stop within ${STOP_TIMEOUT_MS / 1000} s; killing it`);
              worker.process.kill("SIGKILL");
            }, STOP_TIMEOUT_MS);
            worker.once("exit", () => (clearTimeout(timer), void pushes?.unsubscribe(), resolve()));
            if (worker.isConnected()) worker.send({ kind: "stop" } satisfies ToGatewayWorker);
            else worker.process.kill("SIGTERM");
          }),
      ),
    );
    program.dispose?.();
  };

  try {
    // The first worker binds the port (0: a free one); the others share it.
    port = await startOne(1, `${o.gatewayIdPrefix}-w1`);
    await Promise.all(Array.from({ length: o.count - 1 }, (_, i) => startOne(i + 2, `${o.gatewayIdPrefix}-w${i + 2}`)));
  } catch (err) {
    await close();
    throw err;
  }
  o.logger.info({ workers: o.count, port, accept: o.accept }, "gateway workers listening");
  return {
    port,
    gatewayIds: () => [...live.values()].map((e) => e.gatewayId),
    pids: () => [...live.values()].map((e) => e.worker.process.pid!).filter(Boolean),
    close,
  };
}

/**
 * What a worker runs: when this process runs TypeScript through a loader
 * (tsx), the worker bundled as JavaScript and run without it (worker-bundle.ts:
 * half the memory per worker); otherwise the entry as it is, with this
 * process's flags.
 */
async function workerProgram(logger: Logger): Promise<{ exec: string; execArgv: string[]; dispose?: () => void }> {
  if (!WORKER_MAIN.endsWith(".ts")) return { exec: WORKER_MAIN, execArgv: withWorkerHeap(process.execArgv) };
  const bundle = await bundleWorker(WORKER_MAIN);
  // The loader's flags go (--import tsx, --require …/preflight.cjs); the rest (memory, profiling) stay.
  const execArgv = withWorkerHeap(withoutLoader(process.execArgv));
  logger.debug({ file: bundle.file }, "gateway workers run as bundled JavaScript");
  return { exec: bundle.file, execArgv, dispose: bundle.dispose };
}

/** Node flags without those that load tsx (`--import tsx`, `--import=…tsx…`, `--require …tsx…`, `--loader …`). */
export function withoutLoader(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const [flag, inline] = arg.split(/=(.*)/s, 2) as [string, string | undefined];
    if (!["--import", "--require", "-r", "--loader", "--experimental-loader"].includes(flag)) {
      out.push(arg);
      continue;
    }
    const value = inline ?? execArgv[++i] ?? "";
    if (!/(^|[/\\@])tsx([/\\]|$)/.test(value)) out.push(flag, value);
  }
  return out;
}

/**
 * The young generation a worker runs with (V8's semi-space, MiB), unless
 * this process was given one: 2 instead of V8's 16. A worker holds sockets
 * and little else (~7 KiB of live objects per idle agent), but a flood of
 * new agents grew its heap to 4-6 times that, and V8 gave it back only
 * long after, if at all: 70 s after 20,000 agents came in on 2 workers,
 * 39 KiB of RSS per socket with V8's 16 MiB, 18-24 KiB with 2 (less
 * difference after a longer flood and a minute of heartbeats:
 * docs/performance.md §13, with the CPU it may cost).
 */
export const WORKER_SEMI_SPACE_MIB = 2;

/**
 * glibc's malloc arenas a worker may use. Its default (8 per core) gives each
 * of a worker's threads (the loop, libuv's pool, V8's platform threads) its
 * own arenas, whose freed memory each keeps: at ~16,700 sockets a worker held
 * 33–38 MiB of anonymous memory outside V8's heap (docs/performance.md §44).
 * The loop does nearly all of a worker's allocating, so two arenas hardly
 * contend (§47 measures both).
 */
export const WORKER_MALLOC_ARENAS = 2;

/** The environment a worker adds to this process's: MALLOC_ARENA_MAX, unless the operator set one (theirs stands). */
export function workerEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return env.MALLOC_ARENA_MAX === undefined ? { MALLOC_ARENA_MAX: String(WORKER_MALLOC_ARENAS) } : {};
}

/** `execArgv` with --max-semi-space-size=WORKER_SEMI_SPACE_MIB added, unless it sets one already (an operator's choice stands). */
export function withWorkerHeap(execArgv: readonly string[]): string[] {
  if (execArgv.some((a) => /^--max[-_]semi[-_]space[-_]size(=|$)/.test(a))) return [...execArgv];
  return [...execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`];
}

/** Each worker's share of the new-agent rates and of --max-connecting-agents (0 stays "no limit"); everything else holds per worker as set. */
export function perWorker(s: GatewaySettings, count: number): GatewaySettings {
  const share = (n: number | undefined) => (n === undefined || n === 0 ? n : Math.max(1, Math.ceil(n / count)));
  return {
    ...s,
    ...(s.newAgentsPerSecond !== undefined ? { newAgentsPerSecond: share(s.newAgentsPerSecond) } : {}),
    ...(s.newAgentsPerSecondPerSource !== undefined ? { newAgentsPerSecondPerSource: share(s.newAgentsPerSecondPerSource) } : {}),
    ...(s.maxConnectingAgents !== undefined ? { maxConnectingAgents: share(s.maxConnectingAgents) } : {}),
  };
}
