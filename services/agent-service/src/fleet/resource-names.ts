import { InvalidRequestError } from "../agents/agent-errors.js";

/** The namespace of everything that names none. */
export const DEFAULT_NAMESPACE = "default";

const MAX_NAME_LENGTH = 63;
// A DNS label (RFC 1123), as Kubernetes names namespaces: safe in URLs,
// file names, store keys ("/" separates namespace and name there) and YAML.
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why `name` cannot name a namespace, configuration or group; undefined when it can. */
export function resourceNameProblem(name: string): string | undefined {
  if (!name) return "is empty";
  if (name.length > MAX_NAME_LENGTH) return `is longer than ${MAX_NAME_LENGTH} characters`;
  if (!NAME.test(name)) return `"${name}" is not lowercase letters, digits and "-" (starting and ending with a letter or digit)`;
  return undefined;
}

/** Checks a resource name; `field` names the request field in the error. */
export function requireResourceName(field: string, name: string): string {
  const problem = resourceNameProblem(name);
  if (problem) throw new InvalidRequestError(`${field} ${problem}`);
  return name;
}

/** The namespace a request names: empty means "default"; anything else must be a valid name. */
export function requestNamespace(text: string | undefined): string {
  if (!text) return DEFAULT_NAMESPACE;
  return requireResourceName("namespace", text);
}
