import { groupApi } from "../api.js";
import { ErrorBanner } from "../components/error-banner.js";
import { NamespacePicker } from "../components/namespace-picker.js";
import { selectorText } from "../format.js";
import { useLiveRefresh, useLoad } from "../hooks.js";
import { configurationHref, fleetHref, rolloutsHref } from "../route.js";

const COUNTS = ["matched", "assigned", "connected", "applied", "applying", "failed", "unhealthy"] as const;

/** The groups of a namespace in name order, each with its status counts (GroupService.ListGroups). */
export function GroupListPage({ namespace }: { namespace: string }) {
  const groups = useLoad(async () => (await groupApi.listGroups({ namespace, pageSize: 1000 })).groups, [namespace]);
  // Counts move as agents report; one reload per burst of changes.
  useLiveRefresh(groups.reload, 2_000);
  return (
    <section>
      <h1>Groups</h1>
      <div class="filters">
        <NamespacePicker value={namespace} hrefFor={(ns) => fleetHref("groups", ns)} />
        <span class="hint">Agents run the configuration version of the highest-priority group whose selector matches them, unless they have their own.</span>
      </div>
      <ErrorBanner error={groups.error} />
      <table data-testid="group-table">
        <thead>
          <tr>
            <th>group</th>
            <th class="num">priority</th>
            <th>selector</th>
            <th>configuration</th>
            {COUNTS.map((c) => (
              <th key={c} class="num">
                {c}
              </th>
            ))}
            <th>tied with</th>
            <th>rollouts</th>
          </tr>
        </thead>
        <tbody>
          {(groups.data ?? []).map(({ group: g, status: s }) => (
            <tr key={g!.name} data-testid="group-row">
              <td>{g!.name}</td>
              <td class="num">{g!.priority}</td>
              <td class="mono">{selectorText(g!.selector)}</td>
              <td>
                <a href={configurationHref(namespace, g!.configuration)}>{g!.configuration}</a> v{g!.configurationVersion}
              </td>
              {COUNTS.map((c) => (
                <td key={c} class="num" data-testid={`group-${c}`}>
                  {String(s?.[c] ?? 0n)}
                </td>
              ))}
              <td>{s?.tiedWith.join(", ") || "—"}</td>
              <td>
                {g!.rollout ? (
                  <a href={rolloutsHref(namespace, g!.name)} data-testid="group-rollout">
                    {g!.rolloutRunning ? "under way" : "past"}
                  </a>
                ) : (
                  "—"
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {groups.data?.length === 0 && <p class="muted">No groups in this namespace.</p>}
    </section>
  );
}
