import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";

/**
 * Since when (epoch ms) the agent has not been connected, the time retention
 * counts from; undefined while it is connected. An agent that never connected
 * (made by an admin's SetRemoteConfig ahead of it) counts from its creation.
 * The stores index agents by this value, so it is the one rule for both the
 * index and the sweeper's check before it removes an agent.
 */
export function disconnectedSince(agent: Agent): number | undefined {
  const status = agent.status;
  if (status?.connected) return undefined;
  const at = status?.disconnectedAt ?? agent.metadata?.createdAt;
  return at ? timestampMs(at) : 0;
}
