import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import type { ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { asError } from "@fleetplane/platform";
import { TurnBatches } from "./turn-batches.js";

/** What one pull asks agent-service for (as PullServerToAgentRequest). */
export interface PullRequest {
  instanceUid: string;
  connectionId: string;
  revision: bigint;
}

/** agent-service's answer to one pull (as PullServerToAgentResponse). */
export interface PullResult {
  message?: ServerToAgent;
  /** Unset: an agent-service from before it said so (pull again until nothing is left). */
  more?: boolean;
}

/** Pulls per PullServerToAgents call at most (agent-service accepts up to 1000). */
export const MAX_PULL_BATCH = 500;

/**
 * How long a gateway pulls one agent per call after agent-service answered
 * Unimplemented (a replica from before PullServerToAgents, during an
 * upgrade) before it tries a batch again.
 */
export const SINGLE_PULLS_AFTER_UNIMPLEMENTED_MS = 60_000;

/**
 * Sends the pulls of push notices to agent-service in batches, as
 * ReportBatcher does reports (turn-batches.ts): every pull asked for in the
 * same turn of the event loop goes out in one PullServerToAgents call. A rollout's stage pins
 * hundreds of agents at once and their notices arrive together: one call
 * per batch instead of one per pushed agent, whose per-call cost (HTTP/2
 * stream, Connect's context, abort signal and headers on both sides) was most
 * of a pull's (docs/performance.md §35). When idle a pull waits only for the
 * current turn to end. Each caller gets its own result or its own error.
 */
export class PullBatcher {
  private readonly batches: TurnBatches<PullRequest, PullResult>;
  /** Until when agent-service is taken to lack PullServerToAgents (epoch ms; 0: it has it). */
  private singleUntil = 0;

  constructor(
    private readonly agents: Client<typeof AgentGatewayService>,
    private readonly now: () => number = Date.now,
  ) {
    this.batches = new TurnBatches(MAX_PULL_BATCH, (batch) => this.send(batch));
  }

  pull(request: PullRequest): Promise<PullResult> {
    return this.now() < this.singleUntil ? this.agents.pullServerToAgent(request) : this.batches.add(request);
  }

  private async send(batch: PullRequest[]): Promise<Array<PullResult | Error>> {
    try {
      const { results } = await this.agents.pullServerToAgents({ pulls: batch });
      return batch.map((_, i): PullResult | Error => {
        const r = results[i];
        if (r && !r.errorCode) return r.message ? { message: r.message, more: r.more } : { more: r.more };
        return new ConnectError(r?.errorMessage || "agent-service returned no pull result", (r?.errorCode as Code) || Code.Internal);
      });
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Unimplemented) throw err;
      // An older agent-service: these pulls, and the next ones for a while, go one per call.
      this.singleUntil = this.now() + SINGLE_PULLS_AFTER_UNIMPLEMENTED_MS;
      return Promise.all(batch.map((p) => this.agents.pullServerToAgent(p).catch(asError)));
    }
  }
}
