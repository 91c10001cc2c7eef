import type { Client } from "@connectrpc/connect";
import type { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import type { Logger } from "@fleetplane/platform/logger";
import type { PushNotice } from "@fleetplane/platform/push-bus";
import type { WebSocketRegistry } from "./websocket-registry.js";

/** Messages pulled per notice at most (a restart goes alone, the rest follows). */
const MAX_PULLS = 4;

/**
 * Handles "agent X has something to receive": finds X's WebSocket on this
 * gateway (GetByInstanceUID), pulls the ServerToAgent from agent-service and
 * sends it. A notice for a connection we no longer hold is stale and ignored;
 * the agent's next message reconciles.
 */
export function createPushReceiver(deps: { agents: Client<typeof AgentService>; registry: WebSocketRegistry; logger: Logger }) {
  return async (notice: PushNotice): Promise<void> => {
    const conn = deps.registry.getByInstanceUid(notice.instanceUid);
    if (!conn || conn.id !== notice.connectionId) return;
    try {
      for (let i = 0; i < MAX_PULLS; i++) {
        const { message } = await deps.agents.pullServerToAgent({ instanceUid: notice.instanceUid, connectionId: conn.id });
        if (!message) return;
        await conn.push(message);
      }
    } catch (err) {
      deps.logger.warn({ agent: notice.instanceUid, connection: conn.id, err: String(err) }, "push failed; the agent gets it on its next message");
    }
  };
}
