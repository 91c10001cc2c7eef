import { RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";

/** What the agent list shows; kept in the URL so counts can link to it. */
export interface AgentListFilter {
  connected?: boolean;
  healthy?: boolean;
  state?: RemoteConfigState;
  attributes: Record<string, string>;
}

export type Route =
  | { page: "overview" }
  | { page: "agents"; filter: AgentListFilter }
  | { page: "agent"; uid: string }
  | { page: "audit" }
  | { page: "groups"; namespace: string }
  | { page: "rollouts"; namespace: string; group?: string }
  | { page: "configurations"; namespace: string }
  | { page: "configuration"; namespace: string; name: string; from?: number; to?: number };

const bool = (v: string | null) => (v === "true" ? true : v === "false" ? false : undefined);

/** The page a location hash names ("#/agents?connected=true"); unknown hashes show the overview. */
export function parseRoute(hash: string): Route {
  const [path = "", query = ""] = hash.replace(/^#/, "").split("?");
  const q = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "agents" && parts[1]) return { page: "agent", uid: decodeURIComponent(parts[1]) };
  if (parts[0] === "agents") {
    const filter: AgentListFilter = { attributes: parseAttributeFilter(q.getAll("attr").join(",")).attributes };
    const connected = bool(q.get("connected"));
    const healthy = bool(q.get("healthy"));
    const state = q.get("state");
    if (connected !== undefined) filter.connected = connected;
    if (healthy !== undefined) filter.healthy = healthy;
    if (state !== null && state in RemoteConfigState) filter.state = RemoteConfigState[state as keyof typeof RemoteConfigState];
    return { page: "agents", filter };
  }
  if (parts[0] === "audit") return { page: "audit" };
  const namespace = q.get("ns") || "default";
  if (parts[0] === "groups") return { page: "groups", namespace };
  if (parts[0] === "rollouts") {
    const group = q.get("group");
    return group ? { page: "rollouts", namespace, group } : { page: "rollouts", namespace };
  }
  if (parts[0] === "configurations" && parts[1]) {
    const route: Route = { page: "configuration", namespace, name: decodeURIComponent(parts[1]) };
    const [from, to] = [Number(q.get("from")), Number(q.get("to"))];
    if (from > 0) route.from = from;
    if (to > 0) route.to = to;
    return route;
  }
  if (parts[0] === "configurations") return { page: "configurations", namespace };
  return { page: "overview" };
}

export function agentsHref(filter: Partial<AgentListFilter> = {}): string {
  const q = new URLSearchParams();
  if (filter.connected !== undefined) q.set("connected", String(filter.connected));
  if (filter.healthy !== undefined) q.set("healthy", String(filter.healthy));
  if (filter.state !== undefined) q.set("state", RemoteConfigState[filter.state]);
  for (const [k, v] of Object.entries(filter.attributes ?? {})) q.append("attr", `${k}=${v}`);
  const query = q.toString();
  return `#/agents${query ? `?${query}` : ""}`;
}

/** A fleet page of a namespace ("default" is left out of the URL). */
export function fleetHref(page: "groups" | "configurations" | "rollouts", namespace: string): string {
  return `#/${page}${namespace === "default" ? "" : `?ns=${encodeURIComponent(namespace)}`}`;
}

/** The rollouts page of a namespace, showing one group's rollouts when `group` is given. */
export function rolloutsHref(namespace: string, group?: string): string {
  const q = new URLSearchParams();
  if (namespace !== "default") q.set("ns", namespace);
  if (group) q.set("group", group);
  const query = q.toString();
  return `#/rollouts${query ? `?${query}` : ""}`;
}

/** A configuration's page; `from` and `to` pick the versions its diff compares. */
export function configurationHref(namespace: string, name: string, diff: { from?: number; to?: number } = {}): string {
  const q = new URLSearchParams();
  if (namespace !== "default") q.set("ns", namespace);
  if (diff.from) q.set("from", String(diff.from));
  if (diff.to) q.set("to", String(diff.to));
  const query = q.toString();
  return `#/configurations/${encodeURIComponent(name)}${query ? `?${query}` : ""}`;
}

export function agentHref(uid: string): string {
  return `#/agents/${uid}`;
}

/**
 * "service.name=checkout, os.type=linux" → attributes. Commas separate
 * pairs, the first "=" separates key and value; blanks around them are
 * ignored. An entry without "=" is an error, named so the user can fix it.
 */
export function parseAttributeFilter(text: string): { attributes: Record<string, string>; error?: string } {
  const attributes: Record<string, string> = {};
  for (const entry of text.split(",").map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.indexOf("=");
    if (eq <= 0) return { attributes, error: `"${entry}" is not key=value` };
    attributes[entry.slice(0, eq).trim()] = entry.slice(eq + 1).trim();
  }
  return { attributes };
}

export function formatAttributeFilter(attributes: Record<string, string>): string {
  return Object.entries(attributes)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}
