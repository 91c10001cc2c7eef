import fc from "fast-check";
import { adminClients } from "./admin-clients.js";
import { FuzzDelivery, serverFault, type Outcome } from "./fuzz-delivery.js";
import { fuzzInput, type FuzzInput } from "./fuzz-inputs.js";
import { ProbeAgent } from "./probe-agent.js";
// The /proc reader the benchmarks use: one reading of RSS for bench and chaos alike.
import { processStats } from "../../bench/proc-stats.js";
import type { ServerProcess } from "./server-process.js";

export interface FuzzOptions {
  seed: number;
  /** About this many inputs in all (batches are of random size; the report gives the exact count). */
  inputs: number;
  /** Inputs sent at once, at most (default 32). */
  batch?: number;
  /** Starts the server under test; called again when it died, so that shrinking has a live server. */
  startServer: () => Promise<ServerProcess>;
  /** Progress lines (default: none). */
  progress?: (line: string) => void;
}

export interface FuzzReport {
  seed: number;
  inputs: number;
  seconds: number;
  inputsPerSecond: number;
  /** HTTP statuses, transport errors and WebSocket close codes, with their counts. */
  outcomes: Record<string, number>;
  /** WebSocket inputs after which the server still answered our valid heartbeat on the same socket. */
  wsAnswered: number;
  /** The valid agent on the side: reply latency (ms), late (> 1 s) replies, reconnects. */
  probe: ReturnType<ProbeAgent["summary"]>;
  serverLinesLogged: number;
  serverRssMiB: number;
  /** Agents in the store at the end (issue 15 item 2: every new UID stays). */
  agentsStored: number | undefined;
  /** Servers started: 1 unless one died. */
  serverStarts: number;
  /** Set when a check failed: what, and fast-check's shrunk counterexample with the seed and path to replay it. */
  failure?: { message: string; counterexample: string; replay: string };
}

/**
 * The structured fuzzer: batches of arbitrary inputs (fuzz-inputs.ts) sent
 * at once over WebSocket and plain HTTP to a server in another process. A
 * batch fails when the server dies, logs a fatal error or an unhandled
 * rejection / uncaught exception, or answers client input with a 5xx (or
 * WebSocket close 1011). fast-check then shrinks the batch to a minimal one,
 * reproducible from the seed and path it prints.
 */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const batch = options.batch ?? 32;
  const batchArbitrary = fc.array(fuzzInput, { minLength: 1, maxLength: batch, size: "max" });
  // fast-check picks batch lengths itself: measure their mean to hit the requested input count.
  const lengths = fc.sample(fc.array(fc.constant(0), { minLength: 1, maxLength: batch, size: "max" }), { seed: options.seed, numRuns: 500 });
  const meanLength = lengths.reduce((a, l) => a + l.length, 0) / lengths.length;
  const numRuns = Math.max(1, Math.round(options.inputs / meanLength));

  let server = await options.startServer();
  let serverStarts = 1;
  const probe = new ProbeAgent(server.opampWsUrl);
  probe.start();
  const outcomes: Record<string, number> = {};
  let delivered = 0;
  let wsAnswered = 0;
  let delivery = new FuzzDelivery({ wsUrl: server.opampWsUrl, httpUrl: server.opampHttpUrl });
  const started = performance.now();
  let lastProgress = started;

  const property = fc.asyncProperty(batchArbitrary, async (inputs: FuzzInput[]) => {
    if (!server.alive || server.problem()) {
      // A previous batch broke it (shrinking replays batches): start afresh.
      await server.stop();
      delivery.close();
      server = await options.startServer();
      serverStarts++;
      delivery = new FuzzDelivery({ wsUrl: server.opampWsUrl, httpUrl: server.opampHttpUrl });
      probe.retarget(server.opampWsUrl);
    }
    const results = await Promise.all(inputs.map((input, slot) => delivery.deliver(input, slot)));
    delivered += inputs.length;
    for (const outcome of results) {
      outcomes[outcomeName(outcome)] = (outcomes[outcomeName(outcome)] ?? 0) + 1;
      if (outcome.kind === "ws" && outcome.answered) wsAnswered++;
    }
    // A server may die just after answering, or drop the connection as it
    // dies: give its exit a moment to show (longer after a dropped
    // connection), so that the batch that killed it is the one that fails
    // and shrinking keeps blaming the right input.
    await server.exitsWithin(results.some(droppedConnection) ? 1_000 : 10);
    const faults = results.map((o, i) => [serverFault(o), i] as const).filter(([f]) => f !== undefined);
    if (faults.length > 0) throw new Error(`input ${faults[0]![1]} of the batch: ${faults[0]![0]}`);
    const problem = server.problem();
    if (problem) throw new Error(problem);
    const now = performance.now();
    if (options.progress && now - lastProgress > 10_000) {
      lastProgress = now;
      options.progress(`fuzz: ${delivered} inputs, ${Math.round(delivered / ((now - started) / 1000))}/s, probe p99 ${probe.summary().p99} ms`);
    }
  });

  const details = await fc.check(property, { seed: options.seed, numRuns, endOnFailure: false });
  const seconds = (performance.now() - started) / 1000;
  probe.stop();
  delivery.close();
  let agentsStored: number | undefined;
  let serverRssMiB = 0;
  if (server.alive) {
    serverRssMiB = Math.round(processStats(server.pid).rssBytes / 2 ** 20);
    agentsStored = await adminClients(server.apiUrl, server.adminKey)
      .agents.getFleetSummary({})
      .then((r) => Number(r.summary?.total ?? 0))
      .catch(() => undefined);
  }
  const serverLinesLogged = server.linesLogged;
  await server.stop();
  const report: FuzzReport = {
    seed: options.seed,
    inputs: delivered,
    seconds: Math.round(seconds * 10) / 10,
    inputsPerSecond: Math.round(delivered / seconds),
    outcomes,
    wsAnswered,
    probe: probe.summary(),
    serverLinesLogged,
    serverRssMiB,
    agentsStored,
    serverStarts,
  };
  if (details.failed) {
    report.failure = {
      message: details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance),
      counterexample: fc.stringify(details.counterexample),
      replay: `seed ${details.seed}, path "${details.counterexamplePath}" (fc.check(..., { seed, path, endOnFailure: true }))`,
    };
  }
  return report;
}

/** An HTTP request without a response, or a WebSocket that ended without a close frame (1006): what a dying server leaves. */
function droppedConnection(o: Outcome): boolean {
  return o.kind === "http-error" || (o.kind === "ws" && o.closeCode === 1006);
}

function outcomeName(o: Outcome): string {
  if (o.kind === "http") return `http ${o.status}`;
  if (o.kind === "http-error") return `http ${o.code}`;
  return `ws close ${o.closeCode ?? "none"}`;
}
