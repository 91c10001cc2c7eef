import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { KeyLookup } from "./label-selector.js";

/**
 * What a selector key means for an agent. One flat key space, looked up in
 * this order, the first that has the key deciding:
 *   1. labels set by admins (SetAgentLabels) — so an admin can always
 *      override what an agent says about itself;
 *   2. identifying attributes (string values);
 *   3. non-identifying attributes (string values).
 * Non-string attribute values are not matched.
 */
export function agentSelectorKeys(agent: Agent): KeyLookup {
  const labels = agent.metadata?.labels ?? {};
  const description = agent.metadata?.description;
  let attributes: Map<string, string> | undefined;
  return (key) => {
    if (Object.hasOwn(labels, key)) return labels[key];
    if (!attributes) {
      attributes = new Map();
      // Non-identifying first, so identifying attributes overwrite them.
      for (const kv of [...(description?.nonIdentifyingAttributes ?? []), ...(description?.identifyingAttributes ?? [])]) {
        const v = kv.value?.value;
        if (v?.case === "stringValue") attributes.set(kv.key, v.value);
      }
    }
    return attributes.get(key);
  };
}
