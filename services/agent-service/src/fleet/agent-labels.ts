import { InvalidRequestError } from "../agents/agent-errors.js";

// Kubernetes label syntax: keys are an optional DNS-subdomain prefix and "/",
// then a name; values are empty or a name. Keeps labels usable in selectors,
// YAML and URLs alike.
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const MAX_LABELS = 64;

/** Checks labels an admin sets on an agent; the error names the key at fault. */
export function validateLabels(labels: Record<string, string>): void {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) throw new InvalidRequestError(`labels: at most ${MAX_LABELS} labels per agent, got ${entries.length}`);
  for (const [key, value] of entries) {
    const slash = key.lastIndexOf("/");
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if (prefix !== undefined && (prefix.length > 253 || !PREFIX.test(prefix))) throw new InvalidRequestError(`labels: key "${key}" has an invalid prefix (a DNS subdomain is expected)`);
    if (name.length === 0 || name.length > 63 || !NAME.test(name)) throw new InvalidRequestError(`labels: key "${key}" is not a valid label name (letters, digits, "-", "_", ".", at most 63)`);
    if (value !== "" && (value.length > 63 || !NAME.test(value))) throw new InvalidRequestError(`labels: value of "${key}" is not a valid label value (letters, digits, "-", "_", ".", at most 63)`);
  }
}
