import { instanceUidToHex, runBounded, type Logger } from "@fleetplane/platform";
import type { DisconnectedCursor } from "./agent-repository.js";
import type { AgentStore } from "./agent-store.js";
import type { AdminCommands } from "./admin-commands.js";
import { disconnectedSince } from "./disconnected-since.js";

/** Who the audit trail names for agents retention removes. */
export const RETENTION_REQUESTER = "retention";

/** A sweep's longest pause: a fleet's retention is days, an overdue agent waits minutes at most. */
const MAX_SWEEP_INTERVAL_MS = 5 * 60_000;
/** The first sweep after start: soon, but after the start-up work (reaping, first agents). */
const MAX_FIRST_SWEEP_DELAY_MS = 10_000;
const MIN_SWEEP_INTERVAL_MS = 1_000;
/** Agents removed at once within a page: each is one conditional delete and one audit record. */
const REMOVAL_CONCURRENCY = 8;

export interface AgentRetentionOptions {
  store: AgentStore;
  /** How agents are removed: the same path as DeleteAgent. */
  commands: Pick<AdminCommands, "removeDisconnected">;
  /** How long an agent may stay disconnected before it is removed; 0 keeps every agent. */
  retentionMs: number;
  logger: Logger;
  /** Agents read (and removed) per page; default 500. The fleet is never held in memory. */
  pageSize?: number;
  now?: () => number;
}

/** How often to sweep for a retention: a quarter of it, between 1 s and 5 min. */
export function sweepIntervalMs(retentionMs: number): number {
  return Math.min(MAX_SWEEP_INTERVAL_MS, Math.max(MIN_SWEEP_INTERVAL_MS, Math.floor(retentionMs / 4)));
}

/**
 * Retention: removes agents disconnected longer than `retentionMs`, page by
 * page through the store's index of disconnected agents, each through
 * AdminCommands.removeDisconnected (audited, its records SUPERSEDED).
 *
 * Several agent-service replicas may sweep at once without a lease: each
 * removal re-reads the agent under its lock and deletes only the revision it
 * judged (a conditional delete). Of two replicas removing one agent, one
 * deletes it and records it; the other finds it gone and does nothing. An
 * agent that reconnects meanwhile changes revision, so a delete based on the
 * disconnected copy is refused and the fresh copy is kept.
 */
export class AgentRetention {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly now: () => number;
  private readonly pageSize: number;

  constructor(private readonly deps: AgentRetentionOptions) {
    this.now = deps.now ?? Date.now;
    this.pageSize = deps.pageSize ?? 500;
  }

  /** Sweeps soon, then every sweepIntervalMs, until stop(); nothing when retention is 0. */
  start(): void {
    if (this.deps.retentionMs <= 0) return;
    const interval = sweepIntervalMs(this.deps.retentionMs);
    const schedule = (delay: number) => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.sweeping = this.sweep()
          .catch((err) => this.deps.logger.warn({ err: String(err) }, "agent retention: the sweep failed; trying again at the next one"))
          .finally(() => schedule(interval));
      }, delay);
      this.timer.unref();
    };
    schedule(Math.min(MAX_FIRST_SWEEP_DELAY_MS, interval));
  }

  /** Stops sweeping; a sweep under way ends after its current page. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.sweeping;
  }

  /** One sweep over every agent disconnected longer than the retention; returns how many it removed. */
  async sweep(): Promise<number> {
    const before = this.now() - this.deps.retentionMs;
    let removed = 0;
    let after: DisconnectedCursor | undefined;
    for (let page = 1; !this.stopped; page++) {
      const agents = await this.deps.store.listDisconnected({ before, limit: this.pageSize, ...(after ? { after } : {}) });
      if (agents.length === 0) break;
      let removedHere = 0;
      await runBounded(agents, REMOVAL_CONCURRENCY, async (agent) => {
        if (await this.deps.commands.removeDisconnected(instanceUidToHex(agent.metadata!.instanceUid), before, RETENTION_REQUESTER)) removedHere++;
      });
      removed += removedHere;
      this.deps.logger.info(
        { page, read: agents.length, removed: removedHere, total: removed, disconnectedBefore: new Date(before).toISOString() },
        "agent retention: removed agents disconnected longer than --agent-retention",
      );
      if (agents.length < this.pageSize) break;
      const last = agents[agents.length - 1]!;
      // Listed as disconnected, so it has a disconnectedSince.
      after = { since: disconnectedSince(last)!, uid: instanceUidToHex(last.metadata!.instanceUid) };
    }
    return removed;
  }
}
