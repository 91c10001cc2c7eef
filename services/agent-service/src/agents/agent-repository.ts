import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
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
  /** Only agents of this namespace (agents stored without one are in "default"). */
  namespace?: string;
  /** Only agents carrying all of these admin labels. */
  labels?: Record<string, string>;
  /** Matches identifying or non-identifying string attributes. */
  attributes?: Record<string, string>;
  /** Only these agents (hex uids): a rollout reads a stage's agents without reading the namespace. */
  instanceUids?: readonly string[];
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
  /** Counts over every stored agent, or a namespace's (see fleet-summary.ts for their meaning). */
  summarize(namespace?: string): Promise<FleetSummary>;
  ping(): Promise<void>;
}
