import { fork, type ChildProcess } from "node:child_process";
import { cpus } from "node:os";
import { join } from "node:path";
import type { FleetOptions } from "./fleet.js";
import { LatencyHistogram, type LatencyData } from "./latency.js";

/** A fleet spread over child processes: everything FleetOptions says, except callbacks (they cannot cross processes). */
export interface ProcessFleetOptions extends Omit<FleetOptions, "onRemoteConfig" | "localAddress" | "firstIndex"> {
  /**
   * Simulator processes (default: the number of cores). Each one is a Node
   * process of its own, with its own event loop and its own open-file limit
   * (20,000 here), so the simulator uses every core and a fleet larger than
   * one process may open.
   */
  processes?: number;
  /** Local address of process i (see SimAgentOptions.localAddress); default the system's choice. */
  localAddressOf?: (i: number) => string | undefined;
}

/** Counters one simulator process reports (its Fleet's stats, plain data). */
export interface FleetProcessReport {
  firstReplies: number;
  connected: number;
  sent: number;
  received: number;
  errorResponses: number;
  transportErrors: number;
  connectFailures: number;
  disconnects: number;
  latency: LatencyData;
  /** This process's own CPU time (user + system), ms. */
  cpuMs: number;
}

/** Messages between ProcessFleet and fleet-process-main.ts. */
export type ToFleetProcess =
  | { kind: "start"; options: Omit<FleetOptions, "onRemoteConfig"> }
  | { kind: "report"; id: number }
  | { kind: "reset-latency" }
  | { kind: "stop" };
export type FromFleetProcess =
  | { kind: "ready" }
  | { kind: "started" }
  | { kind: "all-answered" }
  | { kind: "report"; id: number; report: FleetProcessReport };

/** The summed counters of every process, and what the simulator itself spent. */
export interface ProcessFleetStats extends Omit<FleetProcessReport, "latency" | "cpuMs"> {
  latency: LatencyHistogram;
  /** CPU time of all simulator processes, ms. */
  cpuMs: number;
}

const MAIN = join(import.meta.dirname, "fleet-process-main.ts");
const REPORT_TIMEOUT_MS = 30_000;

/**
 * N simulated agents on several processes: the simulator stops being the
 * limit of a benchmark (one Node process saturates one core long before a
 * server with several does), and its own CPU is known (`collect().cpuMs`),
 * so a run whose simulator was busy can be flagged.
 */
export class ProcessFleet {
  readonly processes: number;
  private readonly children: ChildProcess[] = [];
  private readonly sizes: number[] = [];
  private answeredProcesses = 0;
  private readonly allAnsweredWaiters: Array<() => void> = [];
  private nextReportId = 1;
  private readonly pendingReports = new Map<number, { reports: FleetProcessReport[]; resolve: (r: FleetProcessReport[]) => void }>();

  constructor(private readonly o: ProcessFleetOptions) {
    this.processes = Math.max(1, Math.min(o.processes ?? cpus().length, o.agents || 1));
    for (let i = 0; i < this.processes; i++) this.sizes.push(Math.floor(o.agents / this.processes) + (i < o.agents % this.processes ? 1 : 0));
  }

  /** Process ids of the simulator processes (to read their CPU and memory). */
  get pids(): number[] {
    return this.children.map((c) => c.pid!).filter(Boolean);
  }

  /** Starts every process and its agents; resolves once each process has started all of its agents. */
  async start(): Promise<void> {
    const { processes: _p, localAddressOf, ...fleet } = this.o;
    let firstIndex = 0;
    const started: Array<Promise<void>> = [];
    for (let i = 0; i < this.processes; i++) {
      const localAddress = localAddressOf?.(i);
      const options: Omit<FleetOptions, "onRemoteConfig"> = { ...fleet, agents: this.sizes[i]!, firstIndex, ...(localAddress ? { localAddress } : {}) };
      const child = fork(MAIN, [], { stdio: ["ignore", "inherit", "inherit", "ipc"], serialization: "advanced" });
      this.children.push(child);
      started.push(
        new Promise<void>((resolve, reject) => {
          child.once("exit", (code) => reject(new Error(`simulator process ${i} exited with ${code} before starting its agents`)));
          child.on("message", (m: FromFleetProcess) => {
            // A message sent before the child listens for one would be lost: it says when.
            if (m.kind === "ready") child.send({ kind: "start", options } satisfies ToFleetProcess);
            else if (m.kind === "started") resolve();
            else if (m.kind === "all-answered") this.onAllAnswered();
            else if (m.kind === "report") this.onReport(m.id, m.report);
          });
        }),
      );
      firstIndex += this.sizes[i]!;
    }
    await Promise.all(started);
  }

  /** Resolves once every agent got its first reply (each process says so the moment it happens), or rejects after `timeoutMs`. */
  async whenAllAnswered(timeoutMs: number): Promise<void> {
    if (this.answeredProcesses >= this.processes) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(async () => {
        const s = await this.collect().catch(() => undefined);
        reject(new Error(`only ${s?.firstReplies ?? "?"} of ${this.o.agents} agents were answered within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.allAnsweredWaiters.push(() => (clearTimeout(timer), resolve()));
    });
  }

  /** Asks every process for its counters now and sums them. */
  async collect(): Promise<ProcessFleetStats> {
    const id = this.nextReportId++;
    const reports = await new Promise<FleetProcessReport[]>((resolve, reject) => {
      const timer = setTimeout(() => (this.pendingReports.delete(id), reject(new Error("a simulator process did not report within 30 s"))), REPORT_TIMEOUT_MS);
      this.pendingReports.set(id, { reports: [], resolve: (r) => (clearTimeout(timer), resolve(r)) });
      for (const c of this.children) c.send({ kind: "report", id } satisfies ToFleetProcess);
    });
    const latency = new LatencyHistogram();
    const sum: ProcessFleetStats = { firstReplies: 0, connected: 0, sent: 0, received: 0, errorResponses: 0, transportErrors: 0, connectFailures: 0, disconnects: 0, latency, cpuMs: 0 };
    for (const r of reports) {
      for (const k of ["firstReplies", "connected", "sent", "received", "errorResponses", "transportErrors", "connectFailures", "disconnects", "cpuMs"] as const) sum[k] += r[k];
      latency.mergeData(r.latency);
    }
    return sum;
  }

  /** Starts a fresh latency window in every process. */
  resetLatency(): void {
    for (const c of this.children) c.send({ kind: "reset-latency" } satisfies ToFleetProcess);
  }

  /** Stops the agents and waits for every process to exit. */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once("exit", () => resolve());
            c.send({ kind: "stop" } satisfies ToFleetProcess);
            // A process stuck in a storm of its own must not hold the bench.
            setTimeout(() => c.kill("SIGKILL"), 10_000).unref();
          }),
      ),
    );
  }

  private onAllAnswered(): void {
    this.answeredProcesses++;
    if (this.answeredProcesses < this.processes) return;
    for (const w of this.allAnsweredWaiters.splice(0)) w();
  }

  private onReport(id: number, report: FleetProcessReport): void {
    const pending = this.pendingReports.get(id);
    if (!pending) return;
    pending.reports.push(report);
    if (pending.reports.length === this.children.length) {
      this.pendingReports.delete(id);
      pending.resolve(pending.reports);
    }
  }
}
