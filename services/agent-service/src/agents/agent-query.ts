import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { namespaceOf } from "./agent-namespace.js";
import type { AgentQuery } from "./agent-repository.js";

/**
 * The filter semantics of ListAgents in one place, for stores that filter in
 * process (the embedded store) and as the reference for those that filter in
 * the database.
 */
export function matchesAgentQuery(agent: Agent, query: AgentQuery): boolean {
  if (query.connected !== undefined && (agent.status?.connected ?? false) !== query.connected) return false;
  if (query.gatewayId !== undefined && (agent.status?.gatewayId ?? "") !== query.gatewayId) return false;
  if (query.namespace !== undefined && namespaceOf(agent) !== query.namespace) return false;
  if (query.labels) {
    const labels = agent.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(query.labels)) if (labels[k] !== v) return false;
  }
  if (query.attributes) {
    const attrs = agentStringAttributes(agent);
    for (const [k, v] of Object.entries(query.attributes)) if (attrs.get(k) !== v) return false;
  }
  return query.where ? query.where(agent) : true;
}

/** Identifying and non-identifying attributes with string values, as one map. */
export function agentStringAttributes(agent: Agent): Map<string, string> {
  const out = new Map<string, string>();
  const d = agent.metadata?.description;
  for (const kv of [...(d?.identifyingAttributes ?? []), ...(d?.nonIdentifyingAttributes ?? [])]) {
    const v = kv.value?.value;
    if (v?.case === "stringValue") out.set(kv.key, v.value);
  }
  return out;
}
