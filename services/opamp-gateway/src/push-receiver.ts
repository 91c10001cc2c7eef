import type { Client } from "@connectrpc/connect";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import { LogRateLimit, runBounded, type Logger, type PushNotice } from "@fleetplane/platform";
import { GatewayMetrics } from "./gateway-metrics.js";
import { PullBatcher } from "./pull-batcher.js";
import type { WebSocketRegistry } from "./websocket-registry.js";
import type { AgentConnection } from "./agent-connection.js";

const metrics = GatewayMetrics.get();

/** Messages pulled per notice at most (a restart goes alone, the rest follows). */
const MAX_PULLS = 4;

/**
 * Handles "agent X has something to receive": finds X's WebSocket on this
 * gateway (GetByInstanceUID), pulls the ServerToAgent from agent-service (in
 * a batch with the other notices of the same turn) and sends it. A notice for a connection we no longer hold is stale and ignored;
 * the agent's next message reconciles.
 */
export function createPushReceiver(deps: {
  agents: Client<typeof AgentGatewayService>;
  registry: WebSocketRegistry;
  logger: Logger;
  /** A notice for the agent on `conn` arrived (its heartbeats are no longer answered in the gateway: heartbeat-answers.ts). */
  noticed?: (conn: AgentConnection) => void;
}) {
  // agent-service away fails every push at once: a line per 10 s, with the count left out.
  const failures = new LogRateLimit({ intervalMs: 10_000 });
  // The notices of a stage's pins arrive together: their pulls go out together (pull-batcher.ts).
  const pulls = new PullBatcher(deps.agents);
  return async (notice: PushNotice): Promise<void> => {
    const conn = deps.registry.getByInstanceUid(notice.instanceUid);
    if (!conn || conn.id !== notice.connectionId) return;
    deps.noticed?.(conn);
    if (notice.close) {
      // 1008 (policy violation): the server no longer knows this agent.
      conn.close(1008, "agent deleted by an administrator");
      deps.logger.info({ agent: notice.instanceUid, connection: conn.id }, "closed the connection of a deleted agent");
      return;
    }
    const started = performance.now();
    try {
      for (let i = 0; i < MAX_PULLS; i++) {
        // The notice's revision on the first pull only: a next one asks for whatever followed.
        const revision = i === 0 && notice.revision ? BigInt(notice.revision) : 0n;
        const { message, more } = await pulls.pull({ instanceUid: notice.instanceUid, connectionId: conn.id, revision });
        if (!message) return;
        await conn.push(message);
        metrics.pushes.inc();
        metrics.pushSeconds.observe((performance.now() - started) / 1000);
        // agent-service says whether a next pull would find anything (unset: one from before it said so).
        if (more === false) return;
      }
    } catch (err) {
      const extra = failures.take("push");
      if (extra) deps.logger.warn({ agent: notice.instanceUid, connection: conn.id, err: String(err), ...extra }, "push failed; the agent gets it on its next message");
    }
  };
}

/** Agents reconciled at a time after a bus outage (each costs one pull). */
const RECONCILE_CONCURRENCY = 16;

/**
 * After a bus outage, notices may have been lost: pull for every WebSocket
 * agent this gateway holds. Rare (once per outage) and bounded by this
 * gateway's own agents, never by the fleet.
 */
export async function reconcileAll(deps: { registry: WebSocketRegistry; onPush: (n: PushNotice) => Promise<void>; logger: Logger }): Promise<void> {
  const targets = [...deps.registry.identified()].map(({ instanceUid, conn }) => ({ instanceUid, connectionId: conn.id }));
  deps.logger.info({ agents: targets.length }, "push bus is back: reconciling this gateway's agents");
  await runBounded(targets, RECONCILE_CONCURRENCY, deps.onPush);
}
