import { readFileSync } from "node:fs";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { RolloutStageState, RolloutState } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { expect } from "vitest";
import { eventually } from "../../support/eventually.js";
import { within } from "../../support/within.js";
import { describeOperations, operationsBetween, storeOperations } from "../../support/store-operations.js";
import type { TestTopology } from "../../support/topology.js";
import { agentsStage, gate, groupWithAgents, isIn, percentStage, rolloutWhen } from "./rollout-fixtures.js";

/** Where a run stands: the step under way, and its agents once connected (closed if the run is given up). */
interface RunPosition {
  step: string;
  fleet?: { close(): Promise<void> };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * A rollout over `size` agents spread over every gateway, in four stages
 * (10 agents, 10 %, 50 %, 100 %): it passes stage by stage, every agent ends
 * on the new version, and the figures (time per stage, CPU of the server
 * processes named by `serverPids`) are printed for the README.
 */
export async function largeRolloutPasses(
  t: TestTopology,
  size: number,
  servers: () => Array<{ name: string; pid: number }>,
  /** Admin URLs of the processes whose store operations are counted (their /metrics). */
  storeUsers: string[] = [],
  o: { withinMs?: number; logs?: () => string } = {},
): Promise<void> {
  // A step that never ends would otherwise meet the test's own timeout,
  // which says nothing of where it stood: the watchdog fails the run first,
  // naming the step and carrying the server processes' last log lines.
  const at: RunPosition = { step: "reading the store operations" };
  if (!o.withinMs) return run(at);
  try {
    await within(run(at), o.withinMs, "the large rollout run", () => `stuck at: ${at.step}\n${o.logs?.() ?? ""}`);
  } catch (err) {
    // The run may still be waiting on its stuck step: its agents are closed here, before the servers go.
    await at.fleet?.close();
    throw err;
  }

  async function run(at: RunPosition): Promise<void> {
    const opsAtStart = await Promise.all(storeUsers.map(storeOperations));
    at.step = `connecting ${size} agents and waiting for each one's version 1`;
    // Heartbeats at the interval agent-service offers (30 s), as real agents send them.
    const { group, fleet } = await groupWithAgents(t, { prefix: "big", count: size, urls: t.opampUrls.map((u) => u.wsUrl), heartbeatMs: 30_000 });
    at.fleet = fleet;
    try {
      at.step = "reading the store operations after the agents connected";
      const opsConnected = await Promise.all(storeUsers.map(storeOperations));
      try {
        const procs = servers();
        const cpuBefore = procs.map((p) => cpuSeconds(p.pid));
        const started = Date.now();
        at.step = "starting the rollout";
        const { rollout } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [agentsStage(10), percentStage(10), percentStage(50), percentStage(100)], gate: gate() });
        at.step = `waiting for rollout ${rollout!.id} to succeed`;
        const done = await rolloutWhen(t.rollouts, rollout!.id, isIn(RolloutState.SUCCEEDED), "the rollout to succeed", 240_000);
        const wall = Date.now() - started;
        const cpu = procs.map((p, i) => `${p.name} ${(cpuSeconds(p.pid) - cpuBefore[i]!).toFixed(1)} s`);

        expect(done.stages.map((s) => s.state)).toEqual(done.stages.map(() => RolloutStageState.PASSED));
        expect(done.stages.map((s) => s.agents.length)).toEqual([10, Math.ceil(size * 0.1) - 10, Math.ceil(size * 0.5) - Math.ceil(size * 0.1), size - Math.ceil(size * 0.5)]);
        expect(done.stages.flatMap((s) => s.agents).sort()).toEqual(fleet.uids);
        at.step = "waiting for every agent to hold v2";
        for (const uid of fleet.uids) await eventually(() => fleet.bodies(uid).at(-1) === "v2\n", 10_000, `${uid} on v2`);

        const stages = done.stages.map((s, i) => `stage ${i + 1} (${s.agents.length} agents): ${((timestampMs(s.finishedAt!) - timestampMs(s.startedAt!)) / 1000).toFixed(1)} s`);
        console.log(`[large rollout] ${size} agents, 4 stages, bake 0.3 s: ${(wall / 1000).toFixed(1)} s to SUCCEEDED; ${stages.join("; ")}; CPU ${cpu.join(", ")}`);
      } finally {
        // Printed whether it passed or not: a store that falls behind is what fails it on a small machine.
        if (storeUsers.length > 0) {
          at.step = "reading the store operations after the rollout";
          const opsDone = await Promise.all(storeUsers.map(storeOperations));
          console.log(`[large rollout] store operations while ${size} agents connected: ${describeOperations(operationsBetween(opsAtStart, opsConnected))}; during the rollout: ${describeOperations(operationsBetween(opsConnected, opsDone))}`);
        }
      }
    } finally {
      at.step = "closing the agents";
      await fleet.close();
    }
  }
}
