import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { useState } from "preact/hooks";
import { commandApi } from "../api.js";
import { ErrorBanner } from "../components/error-banner.js";
import { enumLabel, formatTime, shortHash } from "../format.js";
import { useLiveRefresh, useLoad } from "../hooks.js";
import { agentHref } from "../route.js";

const PAGE_SIZE = 50;

/** Every command sent to agents, newest first (CommandService.ListCommands). */
export function AuditLogPage() {
  const [tokens, setTokens] = useState<string[]>([""]);
  const token = tokens[tokens.length - 1] ?? "";
  const page = useLoad(() => commandApi.listCommands({ pageSize: PAGE_SIZE, pageToken: token }), [token]);
  // Only the first page grows as things happen; older pages stay put.
  useLiveRefresh(() => token === "" && page.reload(), 2_000);
  return (
    <section>
      <h1>Audit log</h1>
      <ErrorBanner error={page.error} />
      <table data-testid="audit-table">
        <thead>
          <tr>
            <th>when</th>
            <th>agent</th>
            <th>what</th>
            <th>state</th>
            <th>changed</th>
            <th>by</th>
            <th>detail</th>
          </tr>
        </thead>
        <tbody>
          {(page.data?.commands ?? []).map((c) => (
            <tr key={c.id} data-testid="audit-row">
              <td>{formatTime(c.createdAt)}</td>
              <td class="mono">
                <a href={agentHref(c.instanceUid)}>{c.instanceUid.slice(0, 12)}…</a>
              </td>
              <td>
                {c.kind}
                {c.configHash && <span class="muted"> {shortHash(c.configHash)}</span>}
              </td>
              <td>{enumLabel(CommandState, c.state)}</td>
              <td>{formatTime(c.stateChangedAt)}</td>
              <td>{c.requestedBy}</td>
              <td>{c.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="pager">
        <button disabled={tokens.length <= 1} onClick={() => setTokens(tokens.slice(0, -1))}>
          ← Newer
        </button>
        <span>page {tokens.length}</span>
        <button disabled={!page.data?.nextPageToken} onClick={() => setTokens([...tokens, page.data!.nextPageToken])}>
          Older →
        </button>
      </div>
    </section>
  );
}
