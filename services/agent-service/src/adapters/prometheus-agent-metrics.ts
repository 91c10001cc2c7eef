import type { Logger } from "@fleetplane/platform";
import { metricsRegistry, scrapedGauge } from "@fleetplane/platform-node";
import { Counter } from "prom-client";
import type { AgentRemovalReason } from "../agents/admin-commands.js";
import type { AgentStore } from "../agents/agent-store.js";

const REASONS: AgentRemovalReason[] = ["deleted", "retention"];

const removals = new Counter({
  name: "fleetplane_agents_removed_total",
  help: "Agents removed from the store by this replica: deleted (DeleteAgent) or retention (disconnected longer than --agent-retention)",
  labelNames: ["reason"],
  registers: [metricsRegistry],
});

const storedAgents = scrapedGauge({
  name: "fleetplane_agents_stored",
  help: "Agents in the store, connected or not. Counted in the store, so every agent-service replica reports the same figure: aggregate with max, not sum",
  // The count is the store's own bookkeeping (LMDB's entry count, MongoDB's
  // collection metadata), never a scan; read at most this often all the same.
  maxAgeMs: 5_000,
});

/**
 * The agents' figures on /metrics: the stored count (read when scraped) and
 * the removals counter. Returns what counts a removal (AdminCommandsOptions.
 * removed) and the function that stops reading the store (call before
 * closing it). A store that does not answer shows as NaN, and is logged.
 */
export function exposeAgentMetrics(store: AgentStore, logger: Logger): { removed: (reason: AgentRemovalReason) => void; stop: () => void } {
  // Both series exist from the start, so rate() sees the first removal.
  for (const reason of REASONS) removals.labels(reason).inc(0);
  const stop = storedAgents.addSource(async () => {
    try {
      return await store.countStored();
    } catch (err) {
      logger.warn({ err: String(err) }, "metrics: could not count stored agents; fleetplane_agents_stored shows NaN until the store answers");
      return Number.NaN;
    }
  });
  return { removed: (reason) => removals.labels(reason).inc(), stop };
}
