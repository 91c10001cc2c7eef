import { RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { agentApi } from "../api.js";
import { ErrorBanner } from "../components/error-banner.js";
import { enumLabel } from "../format.js";
import { useLiveRefresh, useLoad } from "../hooks.js";
import { agentsHref } from "../route.js";

/** Fleet counts from GetFleetSummary: the browser never lists the whole fleet. */
export function OverviewPage() {
  const summary = useLoad(async () => (await agentApi.getFleetSummary({})).summary, []);
  useLiveRefresh(summary.reload, 2_000);
  const s = summary.data;
  const card = (label: string, count: bigint | undefined, href: string, testId: string) => (
    <a class="card" href={href} data-testid={testId}>
      <span class="count">{String(count ?? 0n)}</span>
      <span class="label">{label}</span>
    </a>
  );
  return (
    <section>
      <h1>Fleet overview</h1>
      <ErrorBanner error={summary.error} />
      {s && (
        <>
          <div class="cards">
            {card("agents", s.total, agentsHref(), "count-total")}
            {card("connected", s.connected, agentsHref({ connected: true }), "count-connected")}
            {card("disconnected", s.total - s.connected, agentsHref({ connected: false }), "count-disconnected")}
            {card("healthy", s.healthy, agentsHref({ healthy: true }), "count-healthy")}
            {card("not healthy", s.total - s.healthy, agentsHref({ healthy: false }), "count-unhealthy")}
          </div>
          <h2>Remote config</h2>
          <p class="hint">{String(s.withRemoteConfig)} agents have a remote config assigned; agents without one count as UNSET.</p>
          <div class="cards">
            {s.remoteConfigStates.map((c) =>
              card(enumLabel(RemoteConfigState, c.state), c.count, agentsHref({ state: c.state }), `count-config-${enumLabel(RemoteConfigState, c.state)}`),
            )}
          </div>
          <h2>Agent types and versions</h2>
          <table data-testid="agent-types">
            <thead>
              <tr>
                <th>service.name</th>
                <th>service.version</th>
                <th class="num">agents</th>
              </tr>
            </thead>
            <tbody>
              {s.agentTypes.map((t) => (
                <tr key={`${t.name}\0${t.version}`}>
                  <td>{t.name ? <a href={agentsHref({ attributes: { "service.name": t.name } })}>{t.name}</a> : <em>none</em>}</td>
                  <td>
                    {t.version ? (
                      <a href={agentsHref({ attributes: { ...(t.name ? { "service.name": t.name } : {}), "service.version": t.version } })}>{t.version}</a>
                    ) : (
                      <em>none</em>
                    )}
                  </td>
                  <td class="num">{String(t.count)}</td>
                </tr>
              ))}
              {s.otherAgentTypes > 0n && (
                <tr>
                  <td colSpan={2}>
                    <em>other types</em>
                  </td>
                  <td class="num">{String(s.otherAgentTypes)}</td>
                </tr>
              )}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
