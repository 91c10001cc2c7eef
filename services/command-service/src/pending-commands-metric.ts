import type { Logger } from "@fleetplane/platform";
import { scrapedGauge } from "@fleetplane/platform-node";
import type { CommandAudit } from "./domain/command-audit.js";

const pendingCommands = scrapedGauge({
  name: "fleetplane_commands_pending",
  help: "Commands recorded and not yet delivered to their agent (e.g. queued for an offline agent). Counted in the store, so every command-service replica reports the same figure: aggregate with max, not sum",
  // Short enough to follow a queue draining, long enough that a scrape storm
  // costs the store one indexed count per second at most.
  maxAgeMs: 1_000,
});

/**
 * Exposes the pending-command count of this audit trail on /metrics; returns
 * the function that stops it. A store that does not answer shows as NaN
 * (an unknown figure, not a stale one) and is logged; /readyz reports it too.
 */
export function exposePendingCommands(audit: CommandAudit, logger: Logger): () => void {
  return pendingCommands.addSource(async () => {
    try {
      return await audit.countPending();
    } catch (err) {
      logger.warn({ err: String(err) }, "metrics: could not count pending commands; fleetplane_commands_pending shows NaN until the store answers");
      return Number.NaN;
    }
  });
}
