import { create } from "@bufbuild/protobuf";
import { RemoteConfigState, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { FleetSummarySchema, type FleetSummary } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { agentStringAttributes } from "./agent-query.js";

/** At most this many (name, version) groups are listed; the rest are counted in other_agent_types. */
export const MAX_AGENT_TYPES = 100;

/**
 * What the fleet summary counts about one agent. Stores keep these fields
 * (or compute them) so they can count without decoding agents. The meaning
 * matches ListAgents' filter: no health report counts as not healthy, no
 * remote config counts as state UNSET.
 */
export interface AgentSummaryFields {
  connected: boolean;
  healthy: boolean;
  configured: boolean;
  configState: RemoteConfigState;
  serviceName: string;
  serviceVersion: string;
}

/** Healthy as AgentFilter.healthy means it: an agent that never reported health is not. */
export function isHealthy(agent: Agent): boolean {
  return agent.status?.health?.healthy ?? false;
}

/** The remote config state as AgentFilter means it: UNSET when none was assigned. */
export function remoteConfigStateOf(agent: Agent): RemoteConfigState {
  return agent.spec?.remoteConfig?.data?.status ?? RemoteConfigState.UNSET;
}

export function summaryFieldsOf(agent: Agent): AgentSummaryFields {
  const attrs = agentStringAttributes(agent);
  return {
    connected: agent.status?.connected ?? false,
    healthy: isHealthy(agent),
    configured: agent.spec?.remoteConfig?.data !== undefined,
    configState: remoteConfigStateOf(agent),
    serviceName: attrs.get("service.name") ?? "",
    serviceVersion: attrs.get("service.version") ?? "",
  };
}

/** Agents sharing connected/healthy/configured/state, as a store groups them. */
export interface AgentStatusGroup {
  connected: boolean;
  healthy: boolean;
  configured: boolean;
  configState: RemoteConfigState;
  count: number;
}

/** Agents sharing service.name and service.version. */
export interface AgentTypeGroup {
  serviceName: string;
  serviceVersion: string;
  count: number;
}

/**
 * Folds a store's groups into the summary. `types` may be cut to the largest
 * groups already (a database sorts and limits): whatever is not listed is
 * counted as other_agent_types, from the total of the status groups.
 */
export function buildFleetSummary(status: AgentStatusGroup[], types: AgentTypeGroup[]): FleetSummary {
  const summary = create(FleetSummarySchema);
  const states = new Map<RemoteConfigState, bigint>();
  for (const g of status) {
    const n = BigInt(g.count);
    summary.total += n;
    if (g.connected) summary.connected += n;
    if (g.healthy) summary.healthy += n;
    if (g.configured) summary.withRemoteConfig += n;
    states.set(g.configState, (states.get(g.configState) ?? 0n) + n);
  }
  summary.remoteConfigStates = [...states]
    .sort(([a], [b]) => a - b)
    .map(([state, count]) => ({ $typeName: "fleetplane.agent.v1.RemoteConfigStateCount", state, count }));
  const listed = [...types]
    .sort((a, b) => b.count - a.count || a.serviceName.localeCompare(b.serviceName) || a.serviceVersion.localeCompare(b.serviceVersion))
    .slice(0, MAX_AGENT_TYPES);
  summary.agentTypes = listed.map((t) => ({
    $typeName: "fleetplane.agent.v1.AgentTypeCount",
    name: t.serviceName,
    version: t.serviceVersion,
    count: BigInt(t.count),
  }));
  summary.otherAgentTypes = summary.total - listed.reduce((sum, t) => sum + BigInt(t.count), 0n);
  return summary;
}

/** Counts agents one by one (stores that scan, like the embedded one). */
export class FleetSummaryCounter {
  private readonly status = new Map<string, AgentStatusGroup>();
  private readonly types = new Map<string, AgentTypeGroup>();

  add(agent: Agent): void {
    const f = summaryFieldsOf(agent);
    const statusKey = `${+f.connected}${+f.healthy}${+f.configured}${f.configState}`;
    const s = this.status.get(statusKey);
    if (s) s.count += 1;
    else this.status.set(statusKey, { connected: f.connected, healthy: f.healthy, configured: f.configured, configState: f.configState, count: 1 });
    // NUL cannot occur in a name from a sane agent; it only keeps the key unambiguous.
    const typeKey = `${f.serviceName}\u0000${f.serviceVersion}`;
    const t = this.types.get(typeKey);
    if (t) t.count += 1;
    else this.types.set(typeKey, { serviceName: f.serviceName, serviceVersion: f.serviceVersion, count: 1 });
  }

  summary(): FleetSummary {
    return buildFleetSummary([...this.status.values()], [...this.types.values()]);
  }
}
