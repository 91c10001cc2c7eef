import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { FleetplaneClient } from "@fleetplane/client";
import { RolloutStageSpecSchema, RolloutStageState, RolloutState, type Rollout, type RolloutStageSpec } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import type { Fleet } from "@fleetplane/simulator";
import { describeOperations, operationsBetween, storeOperations } from "../test/support/store-operations.js";
import { adminClientOf, type ServerUnderTest } from "./fleetplane-server.js";
import { processStats, storeServerCpuMs, totalStats } from "./proc-stats.js";
import { round, type Row } from "./report.js";
import { fleetFor } from "./scenarios.js";

const CONFIGURATION = "bench-rollout";
const GROUP = "bench-rollout";
/** Only the failing agents' fleet fails configurations carrying this (version 2 does). */
const FAIL_MARKER = "# rollout v2";
const yaml = (text: string) => ({ "": { body: new TextEncoder().encode(text), contentType: "text/yaml" } });

export interface RolloutBenchOptions {
  agents: number;
  stages: RolloutStageSpec[];
  bakeMs: number;
  /** Share of the agents (0–100) that report FAILED for the new version. */
  failPercent: number;
  /** New agents connected per second. Default: all within max(1, agents / 2,000) seconds. */
  rampPerSecond?: number;
}

/** "10,10%,50%,100%" → stage specs (the syntax of `fleetplane rollout start --stages`, counts and shares only). */
export function benchStages(text: string): RolloutStageSpec[] {
  return text.split(",").map((entry) => {
    const e = entry.trim();
    const n = Number(e.replace(/%$/, ""));
    if (!Number.isInteger(n) || n < 1) throw new Error(`--rollout-stages: "${e}" is neither a number of agents nor a share like 10%`);
    return create(RolloutStageSpecSchema, { size: e.endsWith("%") ? { case: "percent", value: n } : { case: "agents", value: n } });
  });
}

/**
 * `agents` simulated collectors in one group on version 1, then a rollout
 * to version 2 in `stages` with `bakeMs` of bake: the time each stage took
 * (the server's own stage timestamps), the time from StartRollout to every
 * agent APPLIED (the rollout SUCCEEDED and the group counts them all), and
 * the server CPU it cost. With `failPercent`, that share of the agents —
 * connected interleaved with the rest, so they are spread over the stages
 * (stages take agents in instance-UID order, which is connection order) —
 * report FAILED: the row says which stage the gate stopped at, and which
 * stage held the first failing agent.
 */
export async function rolloutRun(server: ServerUnderTest, o: RolloutBenchOptions): Promise<Row> {
  const api = adminClientOf(server);
  await api.configurations.createConfiguration({ name: CONFIGURATION, files: yaml("receivers: { otlp: {} }\nexporters: { debug: {} }\nservice: { pipelines: { traces: { receivers: [otlp], exporters: [debug] } } }\n# rollout v1\n"), message: "v1" });
  await api.configurations.createConfigurationVersion({ name: CONFIGURATION, files: yaml(`receivers: { otlp: {} }\nexporters: { debug: {} }\nservice: { pipelines: { traces: { receivers: [otlp], exporters: [debug] } } }\n${FAIL_MARKER}\n`), message: "v2" });
  await api.groups.createGroup({ group: { name: GROUP, priority: 0, configuration: CONFIGURATION, configurationVersion: 1, selector: { matchLabels: { "service.name": "otelcol-sim" } } } });

  const failing = Math.round((o.agents * o.failPercent) / 100);
  const healthy = o.agents - failing;
  // Both fleets ramp over the same seconds, so the failing agents' UIDs (UUIDv7: time first) fall among the others'.
  const rampSeconds = o.rampPerSecond ? o.agents / o.rampPerSecond : Math.max(1, o.agents / 2_000);
  const fleets: Fleet[] = [fleetFor(server, { agents: healthy, rampPerSecond: Math.max(1, Math.round(healthy / rampSeconds)) })];
  if (failing > 0) fleets.push(fleetFor(server, { agents: failing, rampPerSecond: Math.max(1, failing / rampSeconds), failMarker: FAIL_MARKER }));
  const failingUids = () => new Set(fleets[1]?.agents.map((a) => a.uidHex) ?? []);
  // Store operations (distributed), read at each phase's end only: a /metrics scrape also refreshes
  // gauges that query the store (the fleet summary, pending commands), load a slow store feels.
  const storeUsers = server.storeUsers ?? [];
  const ops = () => Promise.all(storeUsers.map(storeOperations));
  const opsAtStart = await ops();
  const tick = setInterval(async () => {
    const s = await status(api).catch(() => undefined);
    process.stderr.write(
      `  rollout: connected ${fleets.reduce((n, f) => n + f.snapshot().connected, 0)}/${o.agents}; group: assigned ${s?.assigned ?? "?"}, connected ${s?.connected ?? "?"}, applying ${s?.applying ?? "?"}, applied ${s?.applied ?? "?"}, failed ${s?.failed ?? "?"}\n`,
    );
  }, 3_000);
  const t00 = performance.now();
  let opsConnected = opsAtStart;
  try {
    await Promise.all(fleets.map((f) => f.start()));
    await Promise.all(fleets.map((f, i) => f.whenFirstReplies(i === 0 ? healthy : failing, 300_000)));
    // Polled every second: a group read every 100 ms over a connect phase of minutes was ~1,000 reads of a loaded store.
    await until(async () => (await status(api)).applied === BigInt(o.agents), 180_000, "every agent APPLIED version 1", 1_000);
    const connectSeconds = (performance.now() - t00) / 1000;
    opsConnected = await ops();
    if (storeUsers.length > 0) {
      const made = operationsBetween(opsAtStart, opsConnected);
      process.stderr.write(`  rollout: ${o.agents} agents on version 1 after ${round(connectSeconds, 1)} s; store operations: ${describeOperations(made)}, ${round(made.total / connectSeconds, 0)} a second\n`);
    }

    const before = totalStats(server.pids);
    const beforeEach = server.pids.map(processStats);
    const storeCpuBefore = storeServerCpuMs();
    const t0 = performance.now();
    const calledAt = Date.now();
    const { rollout } = await api.rollouts.startRollout({ group: GROUP, toVersion: 2, stages: o.stages, gate: { bakeTime: durationFromMs(o.bakeMs), stageTimeout: durationFromMs(120_000) } });
    const returnedAt = Date.now();
    const ended = await untilRolloutStops(api, rollout!.id, 600_000);
    const stopSeconds = (performance.now() - t0) / 1000;
    process.stderr.write(`  rollout: outside the stages: ${outsideStages(ended, calledAt, returnedAt, Date.now())}\n`);
    let applied = (await status(api)).applied;
    if (ended.state === RolloutState.SUCCEEDED) {
      // Every stage passed, so every agent had reported APPLIED; the group's own counts confirm it.
      await until(async () => (applied = (await status(api)).applied) === BigInt(o.agents), 60_000, "the group to count every agent APPLIED on version 2");
    }
    const allAppliedSeconds = (performance.now() - t0) / 1000;
    const after = totalStats(server.pids);
    const cpuMs = after.cpuMs - before.cpuMs;
    const byProcess = server.pids.map((pid, i) => {
      const now = processStats(pid);
      return `${server.pidNames?.[i] ?? pid} ${round((now.cpuMs - beforeEach[i]!.cpuMs) / 1000, 1)} (RSS ${Math.round(now.rssBytes / 2 ** 20)} MiB)`;
    });
    process.stderr.write(`  rollout: server cpu s by process (RSS at the end): ${byProcess.join(", ")}\n`);
    // FerretDB and PostgreSQL when they run on this machine (--mongo-url): not in "server cpu s".
    const storeCpuMs = storeServerCpuMs() - storeCpuBefore;
    const moved = ended.stages.reduce((n, s) => n + s.applied + s.failed, 0);
    const opsRollout = storeUsers.length > 0 ? operationsBetween(opsConnected, await ops()) : undefined;
    if (opsRollout) process.stderr.write(`  rollout: store operations during the rollout: ${describeOperations(opsRollout)}, ${round(opsRollout.total / stopSeconds, 0)} a second\n`);
    const failingSet = failingUids();
    const firstFailingStage = ended.stages.findIndex((s) => s.agents.some((u) => failingSet.has(u)));
    const failedStage = ended.stages.findIndex((s) => s.state === RolloutStageState.FAILED);
    return {
      server: server.name,
      agents: o.agents,
      "failing %": o.failPercent,
      stages: ended.stages.map((s) => s.agents.length).join("+"),
      "bake s": o.bakeMs / 1000,
      "stage s": ended.stages.map((s) => (s.startedAt && s.finishedAt ? round((timestampMs(s.finishedAt) - timestampMs(s.startedAt)) / 1000, 2) : "-")).join(" / "),
      outcome: RolloutState[ended.state]!.toLowerCase(),
      // Every row has every column: the table prints the first row's.
      "all APPLIED s": ended.state === RolloutState.SUCCEEDED ? round(allAppliedSeconds, 2) : "-",
      "gate stopped at stage": failedStage < 0 ? "-" : failedStage + 1,
      "first failing agent in stage": firstFailingStage < 0 ? "-" : firstFailingStage + 1,
      "to decision s": round(stopSeconds, 2),
      "group applied": Number(applied),
      "server cpu s": round(cpuMs / 1000, 2),
      "cpu ms per moved agent": moved > 0 ? round(cpuMs / moved, 3) : "-",
      "connect + v1 s": round(connectSeconds, 1),
      "store ops per moved agent": opsRollout && moved > 0 ? round(opsRollout.total / moved, 1) : "-",
      "store server cpu s": round(storeCpuMs / 1000, 2),
      "store server cpu ms per moved agent": moved > 0 ? round(storeCpuMs / moved, 3) : "-",
    };
  } catch (err) {
    // A run that did not get through still says what the store did (distributed).
    if (storeUsers.length > 0) {
      const now = await ops().catch(() => undefined);
      const seconds = (performance.now() - t00) / 1000;
      const made = now && operationsBetween(opsAtStart, now);
      if (made) process.stderr.write(`  rollout: store operations so far (${round(seconds, 1)} s): ${describeOperations(made)}, ${round(made.total / seconds, 0)} a second\n`);
    }
    throw err;
  } finally {
    clearInterval(tick);
    for (const f of fleets) f.stop();
  }
}

/**
 * The time a rollout spent outside its stages, from the server's stage
 * timestamps and this process's clock (same machine): the StartRollout
 * call, its return to the first stage's start, each gap between a stage's
 * end and the next one's start, and the last stage's end to the stop seen
 * on WatchRollouts.
 */
function outsideStages(r: Rollout, calledAt: number, returnedAt: number, seenAt: number): string {
  const s = (ms: number) => round(ms / 1000, 2);
  const started = r.stages.map((x) => (x.startedAt ? timestampMs(x.startedAt) : undefined));
  const finished = r.stages.map((x) => (x.finishedAt ? timestampMs(x.finishedAt) : undefined));
  const gaps = r.stages.slice(1).map((_, i) => (started[i + 1] !== undefined && finished[i] !== undefined ? s(started[i + 1]! - finished[i]!) : "-"));
  const last = [...finished].reverse().find((f) => f !== undefined);
  const parts = {
    call: s(returnedAt - calledAt),
    toStage1: started[0] !== undefined ? s(started[0] - returnedAt) : "-",
    between: gaps.join(" / "),
    toSeen: last !== undefined ? s(seenAt - last) : "-",
  };
  const total = [parts.call, parts.toStage1, ...gaps, parts.toSeen].reduce<number>((n, x) => n + (typeof x === "number" ? x : 0), 0);
  return `StartRollout call ${parts.call} s, returned → stage 1 ${parts.toStage1} s, between stages ${parts.between} s, last stage → stop seen ${parts.toSeen} s; ${round(total, 2)} s in all`;
}

async function status(api: FleetplaneClient) {
  return (await api.groups.getGroup({ name: GROUP })).status!;
}

/** The rollout once it succeeded, paused or otherwise stopped moving agents (followed on WatchRollouts). */
async function untilRolloutStops(api: FleetplaneClient, id: string, timeoutMs: number): Promise<Rollout> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let printed = -1;
  try {
    for await (const { rollout: r } of api.rollouts.watchRollouts({ id }, { signal: controller.signal })) {
      if (!r) continue;
      // A stage is printed once its agents are chosen (the watch may show it current before that).
      const members = r.stages[r.currentStage]?.agents.length ?? 0;
      if (r.currentStage > printed && members > 0) {
        printed = r.currentStage;
        process.stderr.write(`  rollout: stage ${printed + 1}/${r.stages.length} started (${members} agents)\n`);
      }
      if (r.state !== RolloutState.RUNNING) return r;
    }
    throw new Error(`the watch on rollout ${id} ended before it stopped`);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

async function until(probe: () => Promise<boolean>, timeoutMs: number, what: string, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
