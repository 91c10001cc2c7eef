import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { AgentToServer } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { DEFAULT_NAMESPACE } from "../fleet/resource-names.js";

/**
 * THE place that decides which namespace a new agent joins, from its first
 * message. Every agent lands in "default" for now; enrollment credentials
 * (issue 13) will carry a namespace, and this function is where they plug in.
 */
export function namespaceOfNewAgent(_firstMessage: AgentToServer): string {
  return DEFAULT_NAMESPACE;
}

/** An agent's namespace; agents stored before namespaces existed are in "default". */
export function namespaceOf(agent: Agent): string {
  return agent.metadata?.namespace || DEFAULT_NAMESPACE;
}
