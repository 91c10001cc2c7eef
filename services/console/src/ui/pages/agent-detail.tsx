import { CommandKind, ConnectionType, RemoteConfigState, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { AgentCapabilities, PackageStatusEnum, RemoteConfigStatuses, type AgentConfigMap } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { useEffect, useState } from "preact/hooks";
import { agentApi, commandApi, errorText } from "../api.js";
import { useCan } from "../session.js";
import { ConfigEditor } from "../components/config-editor.js";
import { ErrorBanner } from "../components/error-banner.js";
import { HealthTree } from "../components/health-tree.js";
import { assignmentOf, attributeRows, capabilityNames, enumLabel, fileText, formatTime, hasCapability, shortHash, uidHex } from "../format.js";
import { useLiveRefresh, useLoad } from "../hooks.js";
import { onAgentChange } from "../live-updates.js";

function Rows({ rows, testId }: { rows: [string, string][]; testId?: string }) {
  return (
    <table class="kv" data-testid={testId}>
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <th>{k}</th>
            <td>{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ConfigFiles({ config, testId }: { config: AgentConfigMap | undefined; testId: string }) {
  const files = Object.entries(config?.configMap ?? {});
  if (files.length === 0) return <p class="muted" data-testid={testId}>none reported</p>;
  return (
    <div data-testid={testId}>
      {files.map(([name, file]) => (
        <figure key={name}>
          <figcaption>
            {name || "(unnamed file)"} <span class="muted">{file.contentType}</span>
          </figcaption>
          <pre>{fileText(file.body)}</pre>
        </figure>
      ))}
    </div>
  );
}

/** The text to start editing from: the assigned config, else what the agent runs. */
function editableText(agent: Agent): { name: string; text: string } {
  const files = agent.spec?.remoteConfig?.data?.config?.configMap ?? agent.status?.effectiveConfig?.configMap?.configMap ?? {};
  const name = "" in files ? "" : (Object.keys(files)[0] ?? "");
  return { name, text: fileText(files[name]?.body) };
}

/** Everything about one agent, kept current by the watch stream. */
export function AgentDetailPage({ uid }: { uid: string }) {
  const loaded = useLoad(async () => (await agentApi.getAgent({ instanceUid: uid })).agent, [uid]);
  const commands = useLoad(async () => (await commandApi.listCommands({ instanceUid: uid, pageSize: 50 })).commands, [uid]);
  // The stream carries the whole agent: show it as it comes, no reload.
  const [live, setLive] = useState<Agent | undefined>();
  useEffect(() => setLive(undefined), [uid]);
  const isThis = (a: Agent) => uidHex(a.metadata?.instanceUid) === uid;
  useEffect(
    () =>
      onAgentChange((a) => {
        if (isThis(a)) setLive(a);
      }),
    [uid],
  );
  useLiveRefresh(commands.reload, 1_000, isThis);
  const [restart, setRestart] = useState<string | undefined>();
  // Hidden, not just refused: a viewer sees no buttons it cannot use (the server refuses anyway).
  const canOperate = useCan("operate");
  const canReadSecrets = useCan("read-secrets");

  const agent = live ?? loaded.data;
  if (loaded.error) return <ErrorBanner error={loaded.error} />;
  if (!agent) return <p>Loading agent {uid}…</p>;

  const caps = agent.metadata?.capabilities ?? 0n;
  const d = agent.metadata?.description;
  const st = agent.status;
  const rc = agent.spec?.remoteConfig;
  const reported = st?.remoteConfigStatus;
  const editable = editableText(agent);
  const assignment = assignmentOf(agent);
  const canRestart = hasCapability(caps, AgentCapabilities.AgentCapabilities_AcceptsRestartCommand);

  const pushConfig = async (text: string) => {
    const current = agent.spec?.remoteConfig?.data?.config?.configMap ?? {};
    const files: Record<string, { content: { case: "text"; value: string } | { case: "body"; value: Uint8Array }; contentType: string }> = {};
    // Other files of a multi-file config go back unchanged.
    for (const [name, f] of Object.entries(current)) files[name] = { content: { case: "body", value: f.body }, contentType: f.contentType };
    files[editable.name] = { content: { case: "text", value: text }, contentType: "text/yaml" };
    try {
      const res = await agentApi.setRemoteConfig({ instanceUid: uid, files });
      commands.reload();
      return res.pushed ? `Pushed to the agent (command ${res.commandId}).` : `Saved; the agent gets it on its next message (command ${res.commandId}).`;
    } catch (err) {
      throw new Error(`Push failed: ${errorText(err)}`);
    }
  };

  const sendRestart = async () => {
    try {
      const res = await agentApi.sendCommand({ instanceUid: uid, kind: CommandKind.RESTART });
      setRestart(res.pushed ? "Restart sent to the agent." : "Restart queued; the agent gets it on its next message.");
      commands.reload();
    } catch (err) {
      setRestart(`Restart failed: ${errorText(err)}`);
    }
  };

  return (
    <section>
      <h1>
        Agent <span class="mono">{uid}</span>{" "}
        <span class={st?.connected ? "badge ok" : "badge bad"} data-testid="agent-connected">
          {st?.connected ? "connected" : "disconnected"}
        </span>
      </h1>
      <div class="grid">
        <div>
          <h2>Description</h2>
          <h3>Identifying attributes</h3>
          <Rows rows={attributeRows(d?.identifyingAttributes)} testId="identifying-attributes" />
          <h3>Non-identifying attributes</h3>
          <Rows rows={attributeRows(d?.nonIdentifyingAttributes)} />
          <h2>Capabilities</h2>
          <ul class="tags" data-testid="capabilities">
            {capabilityNames(caps).map((c) => (
              <li key={c}>{c}</li>
            ))}
          </ul>
          {(agent.metadata?.customCapabilities?.capabilities.length ?? 0) > 0 && (
            <p>custom: {agent.metadata!.customCapabilities!.capabilities.join(", ")}</p>
          )}
          <h2>Connection</h2>
          <Rows
            testId="connection"
            rows={[
              ["transport", st ? enumLabel(ConnectionType, st.connectionType) : "—"],
              ["connection", st?.connectionId || "—"],
              ["gateway", st?.gatewayId || "—"],
              ["connected at", formatTime(st?.connectedAt)],
              ["last seen", formatTime(st?.lastSeenAt)],
              ["disconnected at", formatTime(st?.disconnectedAt)],
              ["sequence number", String(st?.sequenceNum ?? 0n)],
              ["heartbeat interval", st?.heartbeatIntervalSeconds ? `${st.heartbeatIntervalSeconds} s` : "—"],
            ]}
          />
          <h2>Health</h2>
          {st?.health ? (
            <ul class="health" data-testid="health-tree">
              <HealthTree name="agent" health={st.health} />
            </ul>
          ) : (
            <p class="muted" data-testid="health-tree">
              no health reported
            </p>
          )}
          <h2>Packages</h2>
          {Object.keys(st?.packageStatuses?.packages ?? {}).length === 0 ? (
            <p class="muted" data-testid="packages">
              no package statuses reported
            </p>
          ) : (
            <table data-testid="packages">
              <thead>
                <tr>
                  <th>package</th>
                  <th>has</th>
                  <th>offered</th>
                  <th>status</th>
                  <th>error</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(st!.packageStatuses!.packages).map(([name, p]) => (
                  <tr key={name}>
                    <td>{name}</td>
                    <td>{p.agentHasVersion}</td>
                    <td>{p.serverOfferedVersion}</td>
                    <td>{enumLabel(PackageStatusEnum, p.status)}</td>
                    <td>{p.errorMessage}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div>
          <h2>Assignment</h2>
          <Rows
            testId="assignment"
            rows={[
              ["why", assignment.why],
              ["group", assignment.group || "—"],
              ["configuration", assignment.version || "—"],
              ["tied with", assignment.tiedWith.join(", ") || "—"],
              ["namespace", agent.metadata?.namespace || "default"],
              ["labels", Object.entries(agent.metadata?.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(", ") || "—"],
            ]}
          />
          <h2>Remote config</h2>
          <Rows
            testId="remote-config"
            rows={[
              ["state", rc?.data ? enumLabel(RemoteConfigState, rc.data.status) : "none assigned"],
              ["hash", shortHash(rc?.data?.hash)],
              ["assigned by", rc?.data?.updatedBy || "—"],
              ["assigned at", formatTime(rc?.data?.updatedAt)],
              ["agent reports", reported ? `${enumLabel(RemoteConfigStatuses, reported.status)} (hash ${shortHash(reported.lastRemoteConfigHash)})` : "—"],
              ["error", rc?.lastErrorMessage || reported?.errorMessage || "—"],
            ]}
          />
          {canOperate && (
            <>
              <h3>Edit and push</h3>
              <ConfigEditor key={uid} initialText={editable.text} onPush={pushConfig} />
            </>
          )}
          <h2>Effective config</h2>
          {canReadSecrets ? (
            <ConfigFiles config={st?.effectiveConfig?.configMap} testId="effective-config" />
          ) : (
            <p class="muted" data-testid="effective-config-hidden">
              Configuration bodies may hold secrets: your role does not show them.
            </p>
          )}
          <h2>Commands</h2>
          {canOperate && (
            <button data-testid="restart" disabled={!canRestart} title={canRestart ? "" : "The agent did not declare AcceptsRestartCommand"} onClick={() => void sendRestart()}>
              Restart agent
            </button>
          )}
          {restart && (
            <span data-testid="restart-outcome" role="status">
              {" "}
              {restart}
            </span>
          )}
          <ErrorBanner error={commands.error} />
          <table data-testid="command-history">
            <thead>
              <tr>
                <th>when</th>
                <th>what</th>
                <th>state</th>
                <th>by</th>
                <th>detail</th>
              </tr>
            </thead>
            <tbody>
              {(commands.data ?? []).map((c) => (
                <tr key={c.id}>
                  <td>{formatTime(c.createdAt)}</td>
                  <td>
                    {c.kind}
                    {c.configHash && <span class="muted"> {shortHash(c.configHash)}</span>}
                  </td>
                  <td>{enumLabel(CommandState, c.state)}</td>
                  <td>{c.requestedBy}</td>
                  <td>{c.detail}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </section>
  );
}
