import type { Worker } from "node:cluster";
import type { ProcessMetrics } from "@fleetplane/platform-node";

/** Primary → worker: "your metrics, please"; the answer carries the same id. */
export interface MetricsRequest {
  kind: "metrics";
  id: number;
}
export interface MetricsAnswer {
  kind: "metrics";
  id: number;
  metrics: ProcessMetrics;
}

/** How long a scrape waits for a worker (a busy or dying one is left out of that scrape, not waited for). */
const ANSWER_TIMEOUT_MS = 2_000;
let nextId = 1;

/**
 * Each live worker's metrics, asked over its IPC channel, for the primary's
 * `/metrics` (platform-node's addMetricsSource). Without this a scrape of the
 * admin port showed the primary alone: no OpAMP message or connected agent
 * of any worker.
 */
export async function askWorkersForMetrics(workers: Worker[], timeoutMs = ANSWER_TIMEOUT_MS): Promise<ProcessMetrics[]> {
  const answers = await Promise.all(workers.filter((w) => w.isConnected()).map((w) => askOne(w, timeoutMs)));
  return answers.filter((a): a is ProcessMetrics => a !== undefined);
}

function askOne(worker: Worker, timeoutMs: number): Promise<ProcessMetrics | undefined> {
  const id = nextId++;
  return new Promise((resolve) => {
    const done = (metrics: ProcessMetrics | undefined) => {
      clearTimeout(timer);
      worker.off("message", onMessage);
      worker.off("exit", onExit);
      resolve(metrics);
    };
    const onMessage = (m: unknown) => {
      if (isAnswer(m) && m.id === id) done(m.metrics);
    };
    const onExit = () => done(undefined);
    const timer = setTimeout(() => done(undefined), timeoutMs);
    worker.on("message", onMessage);
    worker.once("exit", onExit);
    worker.send({ kind: "metrics", id } satisfies MetricsRequest);
  });
}

function isAnswer(m: unknown): m is MetricsAnswer {
  return typeof m === "object" && m !== null && (m as MetricsAnswer).kind === "metrics" && typeof (m as MetricsAnswer).id === "number" && Array.isArray((m as MetricsAnswer).metrics);
}
