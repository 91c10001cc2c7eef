import type { LabelSelector } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { InvalidRequestError } from "../agents/agent-errors.js";

/**
 * Kubernetes label-selector semantics (matchLabels; matchExpressions with In,
 * NotIn, Exists, DoesNotExist) over one key → value lookup. Which of an
 * agent's labels and attributes a key reads is decided by agentSelectorKeys
 * (agent-selector-keys.ts), not here.
 */

export type SelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";
const OPERATORS: readonly string[] = ["In", "NotIn", "Exists", "DoesNotExist"];

/** The value of a key, or undefined when the agent has no such key. */
export type KeyLookup = (key: string) => string | undefined;

/**
 * Throws InvalidRequestError naming the offending field (under `field`, e.g.
 * "group.selector") when the selector is not well-formed: an empty key, an
 * unknown operator, In/NotIn without values, Exists/DoesNotExist with values.
 */
export function validateSelector(selector: LabelSelector | undefined, field: string): void {
  if (!selector) return;
  for (const key of Object.keys(selector.matchLabels)) {
    if (!key.trim()) throw new InvalidRequestError(`${field}.match_labels has an empty key`);
  }
  selector.matchExpressions.forEach((e, i) => {
    const at = `${field}.match_expressions[${i}]`;
    if (!e.key.trim()) throw new InvalidRequestError(`${at}.key is empty`);
    if (!OPERATORS.includes(e.operator)) {
      throw new InvalidRequestError(`${at}.operator "${e.operator}" is not one of ${OPERATORS.join(", ")}`);
    }
    const takesValues = e.operator === "In" || e.operator === "NotIn";
    if (takesValues && e.values.length === 0) throw new InvalidRequestError(`${at}.values: ${e.operator} needs at least one value`);
    if (!takesValues && e.values.length > 0) throw new InvalidRequestError(`${at}.values: ${e.operator} takes no values`);
  });
}

/**
 * Whether an agent (seen through `lookup`) matches a valid selector: every
 * matchLabels pair and every expression must hold. As in Kubernetes, NotIn
 * and DoesNotExist hold for an agent without the key; an empty selector
 * matches everything.
 */
export function matchesSelector(selector: LabelSelector | undefined, lookup: KeyLookup): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels)) if (lookup(key) !== value) return false;
  for (const e of selector.matchExpressions) {
    const value = lookup(e.key);
    switch (e.operator as SelectorOperator) {
      case "In":
        if (value === undefined || !e.values.includes(value)) return false;
        break;
      case "NotIn":
        if (value !== undefined && e.values.includes(value)) return false;
        break;
      case "Exists":
        if (value === undefined) return false;
        break;
      case "DoesNotExist":
        if (value !== undefined) return false;
        break;
      default:
        return false; // unreachable for a validated selector; never match on doubt
    }
  }
  return true;
}
