import { FileChange, LineChange } from "@fleetplane/gen/fleetplane/fleet/v1/configuration_service_pb";
import { configurationApi } from "../api.js";
import { ErrorBanner } from "../components/error-banner.js";
import { enumLabel, formatTime, shortHash } from "../format.js";
import { useLoad } from "../hooks.js";
import { configurationHref, parseRoute } from "../route.js";

const MARK: Record<number, string> = { [LineChange.KEPT]: " ", [LineChange.REMOVED]: "-", [LineChange.ADDED]: "+" };
const LINE_CLASS: Record<number, string> = { [LineChange.KEPT]: "", [LineChange.REMOVED]: "diff-del", [LineChange.ADDED]: "diff-add" };

/**
 * One configuration: its versions, newest first, and the line diff between
 * two of them (by default the latest and the one before), file by file.
 */
export function ConfigurationDetailPage({ namespace, name, from, to }: { namespace: string; name: string; from?: number; to?: number }) {
  const versions = useLoad(async () => (await configurationApi.listConfigurationVersions({ namespace, name, pageSize: 1000 })).versions, [namespace, name]);
  const latest = versions.data?.[0]?.version ?? 0;
  const right = to ?? latest;
  const left = from ?? Math.max(1, right - 1);
  const diff = useLoad(
    async () => (right > 0 ? (await configurationApi.diffConfigurationVersions({ namespace, name, fromVersion: left, toVersion: right })).files : []),
    [namespace, name, left, right],
  );
  const pick = (which: "from" | "to", version: number) => {
    // The other side as the URL names it now, not as this page last rendered
    // it: two picks in quick succession must not undo the first (see
    // agent-list.tsx's FilterForm).
    const route = parseRoute(location.hash);
    const now = route.page === "configuration" && route.name === name ? { from: route.from ?? left, to: route.to ?? right } : { from: left, to: right };
    location.hash = configurationHref(namespace, name, { ...now, [which]: version });
  };
  const options = (versions.data ?? []).map((v) => (
    <option key={v.version} value={v.version}>
      v{v.version}
    </option>
  ));
  return (
    <section>
      <h1>
        Configuration {name} <span class="muted">in {namespace}</span>
      </h1>
      <ErrorBanner error={versions.error} />
      <h2>Versions</h2>
      <table data-testid="version-table">
        <thead>
          <tr>
            <th class="num">version</th>
            <th>created</th>
            <th>by</th>
            <th>message</th>
            <th>files</th>
            <th>hash</th>
          </tr>
        </thead>
        <tbody>
          {(versions.data ?? []).map((v) => (
            <tr key={v.version} data-testid="version-row">
              <td class="num">v{v.version}</td>
              <td>{formatTime(v.createdAt)}</td>
              <td>{v.createdBy}</td>
              <td>{v.message}</td>
              <td class="mono">{v.fileNames.map((f) => f || "(unnamed)").join(", ")}</td>
              <td class="mono">{shortHash(v.configHash)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Changes</h2>
      <div class="filters">
        <label>
          from
          <select data-testid="diff-from" value={left} onChange={(e) => pick("from", Number(e.currentTarget.value))}>
            {options}
          </select>
        </label>
        <label>
          to
          <select data-testid="diff-to" value={right} onChange={(e) => pick("to", Number(e.currentTarget.value))}>
            {options}
          </select>
        </label>
      </div>
      <ErrorBanner error={diff.error} />
      <div data-testid="diff">
        {(diff.data ?? []).map((f) => (
          <figure key={f.name} data-testid="diff-file">
            <figcaption>
              {f.name || "(unnamed file)"} <span class="muted">{enumLabel(FileChange, f.change).toLowerCase()}</span>
              {f.fromContentType !== f.toContentType && f.fromContentType && f.toContentType && (
                <span class="muted">
                  {" "}
                  ({f.fromContentType} → {f.toContentType})
                </span>
              )}
            </figcaption>
            {f.binary ? (
              <p class="muted">binary content: compared whole</p>
            ) : (
              <pre class="diff">
                {f.lines.map((l, i) => (
                  <div key={i} class={LINE_CLASS[l.change]}>
                    {MARK[l.change]} {l.text}
                  </div>
                ))}
              </pre>
            )}
          </figure>
        ))}
      </div>
    </section>
  );
}
