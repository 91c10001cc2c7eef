import { RemoteConfigState, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { useEffect, useState } from "preact/hooks";
import { agentApi } from "../api.js";
import { ErrorBanner } from "../components/error-banner.js";
import { attributeRows, enumLabel, formatTime, uidHex } from "../format.js";
import { useLiveRefresh, useLoad } from "../hooks.js";
import { agentHref, agentsHref, formatAttributeFilter, parseAttributeFilter, parseRoute, type AgentListFilter } from "../route.js";

const PAGE_SIZES = [10, 25, 50, 100];

function attribute(agent: Agent, key: string): string {
  const d = agent.metadata?.description;
  const row = [...attributeRows(d?.identifyingAttributes), ...attributeRows(d?.nonIdentifyingAttributes)].find(([k]) => k === key);
  return row?.[1] ?? "";
}

/** The filter form; applying it changes the URL, which the list follows. */
function FilterForm({ filter }: { filter: AgentListFilter }) {
  const [attrs, setAttrs] = useState(formatAttributeFilter(filter.attributes));
  const [error, setError] = useState<string | undefined>();
  useEffect(() => setAttrs(formatAttributeFilter(filter.attributes)), [filter]);
  const apply = (next: Partial<AgentListFilter>) => {
    // From the filter the URL names now, not the one this form last rendered:
    // the form re-renders on `hashchange`, a task the browser may run after
    // the next input's, so a second change right after a first (a filter
    // applied, then "connected" chosen) would otherwise undo the first.
    const route = parseRoute(location.hash);
    location.hash = agentsHref({ ...(route.page === "agents" ? route.filter : filter), ...next });
  };
  return (
    <form
      class="filters"
      onSubmit={(e) => {
        e.preventDefault();
        const parsed = parseAttributeFilter(attrs);
        setError(parsed.error);
        if (!parsed.error) apply({ attributes: parsed.attributes });
      }}
    >
      <label>
        attributes
        <input
          data-testid="filter-attributes"
          placeholder="service.name=checkout, os.type=linux"
          value={attrs}
          onInput={(e) => setAttrs(e.currentTarget.value)}
          size={36}
        />
      </label>
      <button type="submit" data-testid="filter-apply">
        Filter
      </button>
      <YesNoAny label="connected" value={filter.connected} onChange={(connected) => apply({ connected })} />
      <YesNoAny label="healthy" value={filter.healthy} onChange={(healthy) => apply({ healthy })} />
      <label>
        remote config
        <select
          data-testid="filter-state"
          value={filter.state === undefined ? "" : String(filter.state)}
          onChange={(e) => apply({ state: e.currentTarget.value === "" ? undefined : (Number(e.currentTarget.value) as RemoteConfigState) })}
        >
          <option value="">any</option>
          {[RemoteConfigState.UNSET, RemoteConfigState.APPLYING, RemoteConfigState.APPLIED, RemoteConfigState.FAILED].map((s) => (
            <option value={String(s)}>{enumLabel(RemoteConfigState, s)}</option>
          ))}
        </select>
      </label>
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}

/** A filter on a yes/no field: any (undefined), yes or no. */
function YesNoAny({ label, value, onChange }: { label: string; value: boolean | undefined; onChange: (v: boolean | undefined) => void }) {
  return (
    <label>
      {label}
      <select
        data-testid={`filter-${label}`}
        value={value === undefined ? "" : String(value)}
        onChange={(e) => onChange(e.currentTarget.value === "" ? undefined : e.currentTarget.value === "true")}
      >
        <option value="">any</option>
        <option value="true">yes</option>
        <option value="false">no</option>
      </select>
    </label>
  );
}

/** Agents matching the filter, a page at a time (ListAgents' page tokens). */
export function AgentListPage({ filter }: { filter: AgentListFilter }) {
  const [pageSize, setPageSize] = useState(25);
  // Tokens of the pages before the current one, so "previous" can go back.
  const [tokens, setTokens] = useState<string[]>([""]);
  useEffect(() => setTokens([""]), [filter, pageSize]);
  const token = tokens[tokens.length - 1] ?? "";
  const list = useLoad(
    () =>
      agentApi.listAgents({
        pageSize,
        pageToken: token,
        filter: {
          attributes: filter.attributes,
          ...(filter.connected !== undefined ? { connected: filter.connected } : {}),
          ...(filter.healthy !== undefined ? { healthy: filter.healthy } : {}),
          ...(filter.state !== undefined ? { remoteConfigState: filter.state } : {}),
        },
      }),
    [filter, pageSize, token],
  );
  useLiveRefresh(list.reload, 1_500);
  const agents = list.data?.agents ?? [];
  return (
    <section>
      <h1>Agents</h1>
      <FilterForm filter={filter} />
      <ErrorBanner error={list.error} />
      <table data-testid="agent-table">
        <thead>
          <tr>
            <th>instance UID</th>
            <th>service.name</th>
            <th>service.version</th>
            <th>connected</th>
            <th>healthy</th>
            <th>remote config</th>
            <th>last seen</th>
          </tr>
        </thead>
        <tbody>
          {agents.map((a) => {
            const uid = uidHex(a.metadata?.instanceUid);
            return (
              <tr key={uid} data-testid="agent-row">
                <td class="mono">
                  <a href={agentHref(uid)}>{uid}</a>
                </td>
                <td>{attribute(a, "service.name")}</td>
                <td>{attribute(a, "service.version")}</td>
                <td>{a.status?.connected ? "yes" : "no"}</td>
                <td>{a.status?.health ? (a.status.health.healthy ? "yes" : "no") : "—"}</td>
                <td>{a.spec?.remoteConfig?.data ? enumLabel(RemoteConfigState, a.spec.remoteConfig.data.status) : "—"}</td>
                <td>{formatTime(a.status?.lastSeenAt)}</td>
              </tr>
            );
          })}
          {agents.length === 0 && !list.loading && (
            <tr>
              <td colSpan={7}>
                <em>No agents match.</em>
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <div class="pager">
        <button data-testid="page-prev" disabled={tokens.length <= 1} onClick={() => setTokens(tokens.slice(0, -1))}>
          ← Previous
        </button>
        <span data-testid="page-number">page {tokens.length}</span>
        <button data-testid="page-next" disabled={!list.data?.nextPageToken} onClick={() => setTokens([...tokens, list.data!.nextPageToken])}>
          Next →
        </button>
        <label>
          per page
          <select data-testid="page-size" value={String(pageSize)} onChange={(e) => setPageSize(Number(e.currentTarget.value))}>
            {PAGE_SIZES.map((n) => (
              <option value={String(n)}>{n}</option>
            ))}
          </select>
        </label>
      </div>
    </section>
  );
}
