import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { AgentToServer } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { DEFAULT_NAMESPACE } from "../fleet/resource-names.js";
import type { Enrollment } from "../enrollment/enrollment-tokens.js";

/**
 * THE place that decides which namespace a new agent joins, from its first
 * message and the credential it enrolled with: the enrollment token's
 * namespace, else "default" (--agent-auth none).
 */
export function namespaceOfNewAgent(_firstMessage: AgentToServer, enrollment?: Enrollment): string {
  return enrollment?.namespace || DEFAULT_NAMESPACE;
}

/** An agent's namespace; agents stored before namespaces existed are in "default". */
export function namespaceOf(agent: Agent): string {
  return agent.metadata?.namespace || DEFAULT_NAMESPACE;
}
