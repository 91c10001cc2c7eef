import { configurationApi } from "../api.js";
import { ErrorBanner } from "../components/error-banner.js";
import { NamespacePicker } from "../components/namespace-picker.js";
import { formatTime } from "../format.js";
import { useLoad } from "../hooks.js";
import { configurationHref, fleetHref } from "../route.js";

/** The configurations of a namespace, with their latest version (ConfigurationService.ListConfigurations). */
export function ConfigurationListPage({ namespace }: { namespace: string }) {
  const configurations = useLoad(async () => (await configurationApi.listConfigurations({ namespace, pageSize: 1000 })).configurations, [namespace]);
  return (
    <section>
      <h1>Configurations</h1>
      <div class="filters">
        <NamespacePicker value={namespace} hrefFor={(ns) => fleetHref("configurations", ns)} />
      </div>
      <ErrorBanner error={configurations.error} />
      <table data-testid="configuration-table">
        <thead>
          <tr>
            <th>configuration</th>
            <th class="num">latest version</th>
            <th>updated</th>
            <th>description</th>
          </tr>
        </thead>
        <tbody>
          {(configurations.data ?? []).map((c) => (
            <tr key={c.name} data-testid="configuration-row">
              <td>
                <a href={configurationHref(namespace, c.name)}>{c.name}</a>
              </td>
              <td class="num">{c.latestVersion}</td>
              <td>{formatTime(c.updatedAt)}</td>
              <td>{c.description}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {configurations.data?.length === 0 && <p class="muted">No configurations in this namespace.</p>}
    </section>
  );
}
