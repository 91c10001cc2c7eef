import { metricsRegistry } from "@fleetplane/platform-node";
import { Counter, Gauge } from "prom-client";
import type { AuditLoss } from "./audit-batches.js";

const REASONS: AuditLoss[] = ["queue_full", "refused", "not_found", "shutdown"];

const lost = new Counter({
  name: "fleetplane_audit_entries_lost_total",
  help: "Audit entries (command records, state changes) this replica never got into command-service's trail: queue_full (command-service away until the queue was full), refused (invalid), not_found (a change of a command never recorded), shutdown (still queued when the process stopped)",
  labelNames: ["reason"],
  registers: [metricsRegistry],
});
for (const reason of REASONS) lost.labels(reason).inc(0);

/** Every audit queue of this process (one per agent-service module). */
const sources = new Set<() => number>();

new Gauge({
  name: "fleetplane_audit_entries_queued",
  help: "Audit entries waiting for command-service or in a call to it now; grows while command-service does not answer",
  registers: [metricsRegistry],
  collect() {
    let n = 0;
    for (const source of sources) n += source();
    this.set(n);
  },
});

/** Counts lost audit entries (AuditBatchOptions.lost). */
export function countAuditLoss(reason: AuditLoss, n: number): void {
  lost.labels(reason).inc(n);
}

/** Shows an audit queue's length on /metrics until the returned function is called. */
export function exposeAuditQueue(queued: () => number): () => void {
  sources.add(queued);
  return () => sources.delete(queued);
}
