import { randomUUID } from "node:crypto";
import { instanceUidToHex, type Logger } from "@fleetplane/platform";
import { InvalidRequestError } from "../agents/agent-errors.js";
import type { ConnectionRepository } from "./connection-store.js";
import type { GatewayLeaseRepository } from "./gateway-lease-store.js";
import type { AgentReports } from "../agents/agent-reports.js";
import type { AgentStore } from "../agents/agent-store.js";

export const MAX_LEASE_SECONDS = 3600;
const PAGE = 500;
/** A gateway's lease is kept this many times its length (see renew). */
const LATE_RENEWAL_FACTOR = 1.5;

/**
 * Gateway liveness. Each gateway renews a lease; agent-service reaps gateways
 * whose lease ran out (a killed process, a lost host): their agents are
 * marked disconnected and their connections deleted. An agent that already
 * reconnected elsewhere is on another connection, so reaping leaves it alone.
 * Several agent-service replicas may reap the same gateway: every step is
 * idempotent.
 */
export class GatewayLeases {
  private timer: NodeJS.Timeout | undefined;
  private reaping: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      leases: GatewayLeaseRepository;
      /** Where the reaper finds a dead gateway's connected agents. */
      agents: AgentStore;
      /** How it marks them disconnected: as if each connection had closed. */
      reports: AgentReports;
      connections: ConnectionRepository;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Extends the gateway's lease; returns the name of this gateway process's
   * unbroken hold of it (GatewayLeaseRenewal.hold): the gateway asks its
   * agents for their full state when that changes, and not merely because a
   * renewal came late. The first renewal of a new
   * epoch (a restarted process under the same --gateway-id) also reaps the
   * agents and connections of its earlier epochs, in the background: they
   * died with that process, and would otherwise look connected until a
   * lease ran out that the new process keeps renewing. An agent already
   * back on the new epoch is on another connection, so the reap leaves it
   * alone.
   */
  async renew(gatewayId: string, ttlSeconds: number, epoch = ""): Promise<{ hold: string }> {
    if (!gatewayId) throw new InvalidRequestError("RenewGatewayLease needs a gateway_id");
    if (!(ttlSeconds >= 1 && ttlSeconds <= MAX_LEASE_SECONDS)) {
      throw new InvalidRequestError(`ttl_seconds must be between 1 and ${MAX_LEASE_SECONDS}, got ${ttlSeconds}`);
    }
    // A renewal may come up to half a lease late (a busy machine delays the
    // gateway's timer, the call, this process and the store's write alike)
    // before the gateway is presumed dead: gateways renew every third of
    // the lease, so a live one is reaped only after being silent 1.5 leases.
    const now = this.now();
    const { previousEpoch, hold } = await this.deps.leases.renew(gatewayId, now + ttlSeconds * 1000 * LATE_RENEWAL_FACTOR, epoch, now, randomUUID());
    // No epoch (a gateway from before epochs): nothing to tell apart.
    if (epoch && previousEpoch !== epoch) {
      this.reaping = this.reaping.then(() =>
        this.reapEarlierEpochs(gatewayId, epoch).catch((err) =>
          this.deps.logger.warn({ err: String(err), gateway: gatewayId }, "could not reap a restarted gateway's earlier connections; they go when its lease would have"),
        ),
      );
    }
    return { hold };
  }

  /** Settles what the reaping started by renewals has queued (tests). */
  async settled(): Promise<void> {
    await this.reaping;
  }

  async release(gatewayId: string): Promise<void> {
    if (!gatewayId) throw new InvalidRequestError("ReleaseGatewayLease needs a gateway_id");
    await this.deps.leases.release(gatewayId);
  }

  /** Checks for expired leases every `intervalMs` until stop(). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.reaping = this.reaping.then(() =>
        this.reapExpired().catch((err) => this.deps.logger.warn({ err: String(err) }, "gateway reaper: will retry on the next round")),
      );
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.reaping;
  }

  /** Reaps every gateway whose lease has run out; returns how many agents it disconnected. */
  async reapExpired(): Promise<number> {
    let total = 0;
    for (const gatewayId of await this.deps.leases.expired(this.now(), 100)) total += await this.reapGateway(gatewayId, this.now());
    return total;
  }

  /**
   * Reaps every gateway that holds a lease, expired or not: for a process
   * that is the only gateway of its store (standalone), whose every lease
   * found at start belongs to an earlier process of its own — killed, its
   * lease not yet run out. Its agents must not look connected to a process
   * that is gone: they would be refused as duplicates when they reconnect.
   * Call before the new gateway takes leases or agents.
   */
  async reapPrevious(): Promise<number> {
    let total = 0;
    for (;;) {
      const previous = await this.deps.leases.expired(Number.MAX_SAFE_INTEGER, 100);
      for (const gatewayId of previous) total += await this.reapGateway(gatewayId, Number.MAX_SAFE_INTEGER);
      if (previous.length < 100) return total;
    }
  }

  private async reapGateway(gatewayId: string, releaseBefore: number): Promise<number> {
    const disconnected = await this.disconnectAgentsOf(gatewayId, () => true);
    await this.deps.leases.releaseReaped(gatewayId, releaseBefore, randomUUID());
    this.deps.logger.warn({ gateway: gatewayId, agents: disconnected }, "gateway lease expired: its agents are marked disconnected");
    return disconnected;
  }

  /** What a restart of the gateway left behind: its agents and connections of any epoch but `current`. */
  private async reapEarlierEpochs(gatewayId: string, current: string): Promise<number> {
    const disconnected = await this.disconnectAgentsOf(gatewayId, (epoch) => epoch !== current);
    this.deps.logger.warn({ gateway: gatewayId, epoch: current, agents: disconnected }, "gateway restarted: the agents of its earlier process are marked disconnected");
    return disconnected;
  }

  /** Marks the gateway's connected agents disconnected and deletes its connections, of the epochs `dead` picks. */
  private async disconnectAgentsOf(gatewayId: string, dead: (epoch: string) => boolean): Promise<number> {
    let disconnected = 0;
    let after: string | undefined;
    for (;;) {
      const page = await this.deps.agents.listAgents({ limit: PAGE, connected: true, gatewayId, ...(after ? { after } : {}) });
      for (const agent of page) {
        if (!dead(agent.status!.gatewayEpoch)) continue;
        const uid = instanceUidToHex(agent.metadata!.instanceUid);
        if (await this.deps.reports.markDisconnected(uid, agent.status!.connectionId)) disconnected++;
      }
      if (page.length < PAGE) break;
      after = instanceUidToHex(page[page.length - 1]!.metadata!.instanceUid);
    }
    let connectionsAfter: string | undefined;
    for (;;) {
      const page = await this.deps.connections.list({ gatewayId, limit: PAGE, ...(connectionsAfter ? { after: connectionsAfter } : {}) });
      for (const c of page) if (dead(c.gatewayEpoch)) await this.deps.connections.delete(c.id);
      if (page.length < PAGE) break;
      connectionsAfter = page[page.length - 1]!.id;
    }
    return disconnected;
  }
}
