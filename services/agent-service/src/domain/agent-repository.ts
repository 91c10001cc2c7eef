import type { Agent, Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { FleetSummary } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";

/** Another writer stored a newer revision first; reload and apply again. */
export class RevisionConflictError extends Error {
  constructor(readonly instanceUid: string, readonly expected: bigint) {
    super(`agent ${instanceUid} changed concurrently (expected revision ${expected}); reload and retry`);
    this.name = "RevisionConflictError";
  }
}

export interface AgentQuery {
  limit: number;
  /** Hex uid of the last agent of the previous page (listing is in uid order). */
  after?: string;
  connected?: boolean;
  /** Only agents whose status names this gateway (the reaper's query). */
  gatewayId?: string;
  /** Matches identifying or non-identifying string attributes. */
  attributes?: Record<string, string>;
  /** Returns true to keep an agent (filters the store cannot express). */
  where?: (agent: Agent) => boolean;
}

/** Where agents are kept (secondary port). Uids are hex strings here. */
export interface AgentRepository {
  get(instanceUid: string): Promise<Agent | undefined>;
  /**
   * Stores the agent when the stored revision is still `agent.revision`, and
   * increments `agent.revision`. Throws RevisionConflictError otherwise.
   */
  save(agent: Agent): Promise<void>;
  list(query: AgentQuery): Promise<Agent[]>;
  /** Counts over every stored agent (see fleet-summary.ts for their meaning). */
  summarize(): Promise<FleetSummary>;
  ping(): Promise<void>;
}

/** Where connections are kept (secondary port of the ConnectionUsecase). */
export interface ConnectionRepository {
  save(connection: Connection): Promise<void>;
  get(id: string): Promise<Connection | undefined>;
  delete(id: string): Promise<void>;
  list(query: { gatewayId?: string; limit: number; after?: string }): Promise<Connection[]>;
}

/**
 * Gateways hold a lease they renew while alive. When a lease runs out the
 * gateway is presumed dead and its agents are marked disconnected, so a killed
 * gateway never leaves agents "connected" forever.
 */
export interface GatewayLeaseRepository {
  /** Creates or extends a gateway's lease until `expiresAt` (epoch ms). */
  renew(gatewayId: string, expiresAt: number): Promise<void>;
  /** Gateways whose lease ended before `now` (epoch ms), at most `limit`. */
  expired(now: number, limit: number): Promise<string[]>;
  release(gatewayId: string): Promise<void>;
  /**
   * Releases the lease only if it still ended before `now` — a reaper must not
   * delete a lease its gateway renewed while the reaper was at work.
   */
  releaseIfExpired(gatewayId: string, now: number): Promise<void>;
}
