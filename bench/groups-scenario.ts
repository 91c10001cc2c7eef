import type { FleetplaneClient } from "@fleetplane/client";
import { runBounded } from "@fleetplane/platform";
import type { Fleet } from "@fleetplane/simulator";
import { adminClientOf as adminOf, type ServerUnderTest } from "./fleetplane-server.js";
import { totalStats } from "./proc-stats.js";
import { round, type Row } from "./report.js";
import { fleetFor } from "./scenarios.js";

const CONFIGURATION = "bench-collector";
const yaml = (text: string) => ({ "": { body: new TextEncoder().encode(text), contentType: "text/yaml" } });

function fleetOf(server: ServerUnderTest, agents: number, rampPerSecond: number, onRemoteConfig?: (uid: string, config: string, at: number) => void): Fleet {
  return fleetFor(server, { agents, rampPerSecond, ...(onRemoteConfig ? { onRemoteConfig: (agent, config, at) => onRemoteConfig(agent.uidHex, config, at) } : {}) });
}

/**
 * The namespace's groups: `count - 1` that match no simulated agent, at
 * higher priorities, and one that matches every agent at the lowest — so
 * choosing a new agent's group looks at every group (the worst case of
 * O(groups in the namespace)).
 */
async function createGroups(api: FleetplaneClient, count: number): Promise<void> {
  await runBounded(
    Array.from({ length: count - 1 }, (_, i) => i),
    4,
    async (i) =>
      void (await api.groups.createGroup({
        group: { name: `other-${i}`, priority: 1 + i, configuration: CONFIGURATION, configurationVersion: 1, selector: { matchLabels: { "service.name": `not-simulated-${i}` } } },
      })),
  );
  await api.groups.createGroup({ group: { name: "all-simulated", priority: 0, configuration: CONFIGURATION, configurationVersion: 1, selector: { matchLabels: { "service.name": "otelcol-sim" } } } });
}

/**
 * 6a. The cost of a new agent with `groups` groups in its namespace: a
 * connect storm of `agents` (each first reply carries the matching group's
 * configuration), server CPU per agent.
 */
export async function newAgentCost(server: ServerUnderTest, groups: number, agents: number): Promise<Row> {
  const api = adminOf(server);
  await api.configurations.createConfiguration({ name: CONFIGURATION, files: yaml("exporters:\n  debug: {}\n"), message: "bench" });
  const t0 = performance.now();
  await createGroups(api, groups);
  const setup = (performance.now() - t0) / 1000;
  process.stderr.write(`  ${groups} group(s) created in ${round(setup, 1)} s\n`);
  let configs = 0;
  const fleet = fleetOf(server, agents, 0, () => configs++);
  const before = totalStats(server.pids);
  const t1 = performance.now();
  await fleet.start();
  await fleet.whenFirstReplies(agents, 180_000);
  const seconds = (performance.now() - t1) / 1000;
  const after = totalStats(server.pids);
  const s = fleet.snapshot();
  fleet.stop();
  const cpuMs = after.cpuMs - before.cpuMs;
  return {
    server: server.name,
    groups,
    agents,
    "with config in first reply": configs,
    "storm s": round(seconds, 2),
    "first reply p50 ms": s.latencyMs.p50,
    "p99 ms": s.latencyMs.p99,
    "server cpu s": round(cpuMs / 1000, 2),
    "cpu ms per agent": round(cpuMs / agents, 3),
    errors: s.errorResponses + s.transportErrors + s.connectFailures,
  };
}

/**
 * 6b. A group's version change reaching `agents` connected agents: from the
 * UpdateGroup call until GroupStatus counts every agent APPLIED on the new
 * version, and the server CPU spent on it.
 */
export async function groupVersionChange(server: ServerUnderTest, agents: number): Promise<Row> {
  const api = adminOf(server);
  await api.configurations.createConfiguration({ name: CONFIGURATION, files: yaml("exporters:\n  debug: {}\n# v1\n"), message: "v1" });
  await api.configurations.createConfigurationVersion({ name: CONFIGURATION, files: yaml("exporters:\n  debug: {}\n# v2\n"), message: "v2" });
  await createGroups(api, 1);
  let updatedAt = 0;
  let received = 0;
  let lastReceipt = 0;
  const fleet = fleetOf(server, agents, 2_000, (_uid, config, at) => {
    if (!config.includes("# v2")) return;
    received++;
    lastReceipt = at;
  });
  const tick = setInterval(() => process.stderr.write(`  version change: connected ${fleet.snapshot().connected}, v2 received ${received}/${agents}\n`), 2_000);
  try {
    await fleet.start();
    await fleet.whenFirstReplies(agents, 300_000);
    // Everyone runs v1 first (they APPLY what their first reply carried).
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(1_000)) {
      if ((await status(api)).applied === BigInt(agents)) break;
    }
    const before = totalStats(server.pids);
    const t0 = performance.now();
    updatedAt = t0;
    const update = await api.groups.updateGroup({ group: { name: "all-simulated", priority: 0, configuration: CONFIGURATION, configurationVersion: 2, selector: { matchLabels: { "service.name": "otelcol-sim" } } } });
    const callSeconds = (performance.now() - t0) / 1000;
    for (const deadline = Date.now() + 120_000; received < agents && Date.now() < deadline; ) await sleep(20);
    let s = await status(api);
    for (const deadline = Date.now() + 120_000; s.applied < BigInt(agents) && Date.now() < deadline; s = await status(api)) await sleep(250);
    const allApplied = (performance.now() - t0) / 1000;
    const after = totalStats(server.pids);
    return {
      server: server.name,
      agents,
      moved: Number(update.agentsMoved),
      "UpdateGroup call s": round(callSeconds, 2),
      "last receipt s": round((lastReceipt - updatedAt) / 1000, 2),
      "all APPLIED s": round(allApplied, 2),
      applied: Number(s.applied),
      "server cpu s": round((after.cpuMs - before.cpuMs) / 1000, 1),
    };
  } finally {
    clearInterval(tick);
    fleet.stop();
  }
}

async function status(api: FleetplaneClient) {
  return (await api.groups.getGroup({ name: "all-simulated" })).status!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
