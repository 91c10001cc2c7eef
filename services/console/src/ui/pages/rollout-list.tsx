import { timestampMs } from "@bufbuild/protobuf/wkt";
import { useState } from "preact/hooks";
import { RolloutFailureAction, RolloutStageState, RolloutState, StageFailureKind, type Rollout, type RolloutStage } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { errorText, groupApi, rolloutApi } from "../api.js";
import { ErrorBanner } from "../components/error-banner.js";
import { NamespacePicker } from "../components/namespace-picker.js";
import { enumLabel, formatTime, stageSizeText } from "../format.js";
import { useLoad } from "../hooks.js";
import { agentHref, rolloutsHref } from "../route.js";
import { useWatchedRollouts } from "../rollout-watch.js";
import { useCan } from "../session.js";

/** Failing agents listed per stage before "and N more" (the API keeps them all). */
const FAILURES_SHOWN = 20;

const label = (e: Record<string | number, string | number>, v: number) => enumLabel(e, v).toLowerCase().replace(/_/g, " ");

/** What an admin may do to a rollout in each state (what RolloutService accepts). */
const ACTIONS = [
  { verb: "pause", when: [RolloutState.RUNNING], call: (ns: string, id: string) => rolloutApi.pauseRollout({ namespace: ns, id }) },
  { verb: "resume", when: [RolloutState.PAUSED], call: (ns: string, id: string) => rolloutApi.resumeRollout({ namespace: ns, id }) },
  { verb: "rollback", when: [RolloutState.RUNNING, RolloutState.PAUSED], call: (ns: string, id: string) => rolloutApi.rollbackRollout({ namespace: ns, id }) },
  { verb: "abort", when: [RolloutState.RUNNING, RolloutState.PAUSED], call: (ns: string, id: string) => rolloutApi.abortRollout({ namespace: ns, id }) },
] as const;

/**
 * A namespace's rollouts (or one group's), newest first, live from
 * WatchRollouts: each stage with its progress, counts and the agents that
 * failed it and why; the buttons only for callers who may operate.
 */
export function RolloutListPage({ namespace, group }: { namespace: string; group?: string }) {
  const { rollouts, state } = useWatchedRollouts(namespace);
  const groups = useLoad(async () => (await groupApi.listGroups({ namespace, pageSize: 1000 })).groups.map((g) => g.group!.name), [namespace]);
  const [problem, setProblem] = useState<string | undefined>();
  const shown = group ? rollouts.filter((r) => r.group === group) : rollouts;
  const names = groups.data ?? [];
  return (
    <section>
      <h1>Rollouts</h1>
      <div class="filters">
        <NamespacePicker value={namespace} hrefFor={(ns) => rolloutsHref(ns)} />
        <label>
          group
          <select data-testid="rollout-group" value={group ?? ""} onChange={(e) => (location.hash = rolloutsHref(namespace, e.currentTarget.value || undefined))}>
            <option value="">every group</option>
            {(group && !names.includes(group) ? [group, ...names] : names).map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <span class={`live live-${state}`} data-testid="rollouts-live" title="Rollout changes stream in from WatchRollouts">
          {state === "live" ? "● live" : state === "connecting" ? "○ connecting" : "○ reconnecting…"}
        </span>
        <span class="hint">Start one with "fleetplane rollout start" (see fleetplane rollout --help).</span>
      </div>
      <ErrorBanner error={problem ?? groups.error} />
      {shown.map((r) => (
        <RolloutCard key={r.id} rollout={r} onProblem={setProblem} />
      ))}
      {shown.length === 0 && state === "live" && <p class="muted">No rollouts{group ? ` of group ${group}` : ""} in this namespace.</p>}
    </section>
  );
}

function RolloutCard({ rollout: r, onProblem }: { rollout: Rollout; onProblem: (problem: string | undefined) => void }) {
  const canOperate = useCan("operate");
  const [busy, setBusy] = useState(false);
  const act = async (verb: string, call: (ns: string, id: string) => Promise<unknown>) => {
    setBusy(true);
    try {
      await call(r.namespace, r.id);
      onProblem(undefined);
    } catch (err) {
      onProblem(`Could not ${verb} rollout ${r.id}: ${errorText(err)}`);
    } finally {
      setBusy(false);
    }
  };
  const actions = ACTIONS.filter((a) => (a.when as readonly RolloutState[]).includes(r.state));
  return (
    <article class="rollout" data-testid="rollout" data-rollout-id={r.id}>
      <h2>
        {r.group}: {r.configuration} v{r.fromVersion} → v{r.toVersion}{" "}
        <span class={`badge rollout-${label(RolloutState, r.state).replace(/ /g, "-")}`} data-testid="rollout-state">
          {label(RolloutState, r.state)}
        </span>
      </h2>
      {r.reason && (
        <p data-testid="rollout-reason" class={r.state === RolloutState.SUCCEEDED ? "ok" : r.state === RolloutState.RUNNING ? "" : "bad"}>
          {r.reason}
        </p>
      )}
      <p class="muted">
        started {formatTime(r.createdAt)} by {r.createdBy || "—"} · on failure {r.onFailure === RolloutFailureAction.ROLLBACK ? "roll back" : "pause"} · decision {String(r.sequence)} · <span class="mono">{r.id}</span>
        {r.skippedAgents.length > 0 && ` · ${r.skippedAgents.length} agent(s) left out by preflight`}
      </p>
      {canOperate && actions.length > 0 && (
        <div class="filters">
          {actions.map((a) => (
            <button key={a.verb} type="button" disabled={busy} data-testid={`rollout-${a.verb}`} onClick={() => void act(a.verb, a.call)}>
              {a.verb === "rollback" ? "roll back" : a.verb}
            </button>
          ))}
        </div>
      )}
      <table data-testid="stage-table">
        <thead>
          <tr>
            <th>stage</th>
            <th>size</th>
            <th>state</th>
            <th>progress</th>
            <th class="num">agents</th>
            <th class="num">applied</th>
            <th class="num">pending</th>
            <th class="num">failed</th>
            <th class="num">took</th>
          </tr>
        </thead>
        <tbody>
          {r.stages.map((s, i) => (
            <StageRows key={i} stage={s} index={i} current={i === r.currentStage && r.state === RolloutState.RUNNING} />
          ))}
        </tbody>
      </table>
    </article>
  );
}

function StageRows({ stage: s, index, current }: { stage: RolloutStage; index: number; current: boolean }) {
  const took = s.startedAt && s.finishedAt ? `${((timestampMs(s.finishedAt) - timestampMs(s.startedAt)) / 1000).toFixed(1)} s` : "—";
  const pending = s.state === RolloutStageState.PENDING;
  return (
    <>
      <tr data-testid="stage-row" class={current ? "current" : ""}>
        <td>{index + 1}</td>
        <td>{stageSizeText(s.spec)}</td>
        <td data-testid="stage-state" class={s.state === RolloutStageState.FAILED ? "bad" : s.state === RolloutStageState.PASSED ? "ok" : ""}>
          {label(RolloutStageState, s.state)}
        </td>
        <td>{pending ? "—" : <progress data-testid="stage-progress" value={s.applied} max={Math.max(1, s.agents.length)} />}</td>
        <td class="num">{pending ? "—" : s.agents.length}</td>
        <td class="num" data-testid="stage-applied">{pending ? "—" : s.applied}</td>
        <td class="num">{pending ? "—" : s.pending}</td>
        <td class="num" data-testid="stage-failed">{pending ? "—" : s.failed}</td>
        <td class="num">{took}</td>
      </tr>
      {s.failures.length > 0 && (
        <tr data-testid="stage-failures">
          <td />
          <td colSpan={8}>
            <ul class="failures">
              {s.failures.slice(0, FAILURES_SHOWN).map((f) => (
                <li key={f.instanceUid} data-testid="stage-failure">
                  <a class="mono" href={agentHref(f.instanceUid)}>
                    {f.instanceUid}
                  </a>{" "}
                  <strong>{label(StageFailureKind, f.kind)}</strong>
                  {f.detail && `: ${f.detail}`}
                </li>
              ))}
              {s.failures.length > FAILURES_SHOWN && <li class="muted">and {s.failures.length - FAILURES_SHOWN} more</li>}
            </ul>
          </td>
        </tr>
      )}
    </>
  );
}
