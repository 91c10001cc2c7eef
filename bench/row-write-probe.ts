/**
 * What one agent row write costs the store, index by index
 * (docs/performance.md §42): N agents built as agent-service stores them
 * (the simulator's first report applied by report(), a group's assignment
 * and remote config; 1 in 100 disconnected, 1 in 100 labelled), saved
 * through the MongoDB agent repository, then pinned again `rounds` times
 * through its saveMany (the rollout's pin: conditional writes in bulkWrites
 * of 256). Prints the store's CPU per updated document (every postgres and
 * ferretdb process, bench/proc-stats.ts) and this process's, then times the
 * repository's queries over the collection (median of 5) with the indexes
 * the store's plan used for each:
 *
 *   flock /tmp/fp-heavy.lock npx tsx bench/row-write-probe.ts MONGO_URL [N] [rounds] [variant...]
 *
 * Variants: `current` (ensureAgentIndexes), `main` (the eight indexes
 * before §42), `id-only`, and any of those with `+half-doc` (the agent's
 * blob without its effective config, health and remote config: a third
 * smaller) or `+drop:NAME,NAME` (those indexes dropped after creation),
 * e.g. `main+drop:attrs_1,labels_1`.
 * Each variant uses a database of its own, dropped after.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ConfigAssignmentSchema, ConfigSource, ConnectionSchema, ConnectionType, RemoteConfigSchema, RemoteConfigState, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";
import { connectMongo } from "../services/platform-node/src/mongo.js";
import { createMongoAgentRepository, ensureAgentIndexes } from "../services/agent-service/src/adapters/mongo-agent-repository.js";
import type { AgentRepository } from "../services/agent-service/src/agents/agent-repository.js";
import { newAgent, report } from "../services/agent-service/src/agents/agent-model.js";
import { agentDescription, effectiveConfig, health, INITIAL_CONFIG, SIM_CAPABILITIES } from "../services/simulator/src/agent-profile.js";
import { indexesInPlan } from "../test/support/index-plans.js";
import { storeServerCpuMs } from "./proc-stats.js";

const [url, nText, roundsText, ...variantArgs] = process.argv.slice(2);
if (!url) throw new Error("usage: row-write-probe.ts MONGO_URL [N] [rounds] [variant...]");
const n = Number(nText ?? 10_000);
const rounds = Number(roundsText ?? 3);
const variants = variantArgs.length > 0 ? variantArgs : ["main", "current", "id-only"];

/** The agents collection's indexes before §42 (main at 87d7d2c), all holding every agent. */
const MAIN_INDEXES: Array<Record<string, 1>> = [
  { connected: 1, _id: 1 },
  { gatewayId: 1 },
  { attrs: 1 },
  { namespace: 1, _id: 1 },
  { labels: 1 },
  { disconnectedAt: 1, _id: 1 },
  { rolloutGroup: 1, namespace: 1, _id: 1 },
];

const logger = { info() {}, warn() {}, error() {}, debug() {} } as never;
const body = new TextEncoder().encode(INITIAL_CONFIG);
const remoteBody = new TextEncoder().encode("receivers: { otlp: {} }\nexporters: { debug: {} }\nservice: { pipelines: { traces: { receivers: [otlp], exporters: [debug] } } }\n# rollout v1\n");

function agentAt(i: number, halved: boolean): Agent {
  const uid = uuidv7Bytes();
  const hex = instanceUidToHex(uid);
  const now = Date.now();
  const nowNs = BigInt(now) * 1_000_000n;
  const msg = create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 0n, capabilities: SIM_CAPABILITIES, agentDescription: agentDescription(i, hex), effectiveConfig: effectiveConfig(body), health: health(nowNs, nowNs) });
  const agent = newAgent(Buffer.from(hex, "hex"), now);
  const connection = create(ConnectionSchema, { id: `gw-1/ws/${i}`, type: ConnectionType.WEBSOCKET, gatewayId: "gw-1", gatewayEpoch: "0190a8b2-aaaa-7000-8000-000000000000", endpoint: "ws://127.0.0.1:4320/v1/opamp" });
  report(agent, msg, connection, { now, known: false });
  agent.spec!.assignment = create(ConfigAssignmentSchema, { source: ConfigSource.GROUP, group: "bench-rollout", configuration: "bench-rollout", version: 1 });
  agent.spec!.remoteConfig = create(RemoteConfigSchema, { data: { config: { configMap: { "": { body: remoteBody, contentType: "text/yaml" } } }, hash: new Uint8Array(32).fill(7), hashHex: "07".repeat(32), status: RemoteConfigState.APPLIED } });
  if (i % 100 === 50) {
    agent.status!.connected = false;
    agent.status!.disconnectedAt = timestampFromMs(now - 60_000 + i);
  }
  if (i % 100 === 25) agent.metadata!.labels = { team: "payments" };
  if (halved) {
    agent.status!.effectiveConfig = undefined;
    agent.status!.health = undefined;
    agent.spec!.remoteConfig = undefined;
  }
  return agent;
}

/** The repository's queries the indexes serve, as agent-service calls them. */
const QUERIES: Array<[string, (repo: AgentRepository) => Promise<unknown>]> = [
  ["ListAgents attribute (8 agents)", (r) => r.list({ namespace: "default", attributes: { "host.name": "sim-host-700" }, limit: 101, where: () => true })],
  ["ListAgents attribute (1 in 3)", (r) => r.list({ namespace: "default", attributes: { "deployment.environment": "staging" }, limit: 101, where: () => true })],
  ["ListAgents label (1 in 100)", (r) => r.list({ namespace: "default", labels: { team: "payments" }, limit: 101, where: () => true })],
  ["ListAgents connected: false (1 in 100)", (r) => r.list({ namespace: "default", connected: false, limit: 101, where: () => true })],
  ["ListAgents connected: true", (r) => r.list({ namespace: "default", connected: true, limit: 101, where: () => true })],
  ["retention sweep page", (r) => r.listDisconnected({ before: Date.now(), limit: 100 })],
  ["reaper page (a gateway of none)", (r) => r.list({ connected: true, gatewayId: "gw-gone", limit: 100 })],
  ["group targets page (500)", (r) => r.listGroupTargets("default", "bench-rollout", { limit: 500 })],
];

async function probe(variant: string): Promise<void> {
  const [base, ...mods] = variant.split("+");
  const halved = mods.includes("half-doc");
  const drops = mods.filter((m) => m.startsWith("drop:")).flatMap((m) => m.slice(5).split(","));
  const dbName = `row_write_probe_${variant.replace(/[^a-z0-9]/gi, "_")}_${process.pid}`;
  const store = await connectMongo(`${url!.replace(/\/?$/, "/")}?monitorCommands=true`, { logger, dbName });
  try {
    const collection = store.db.collection("agents");
    if (base === "current") await ensureAgentIndexes(store.db, { server: store.server });
    else if (base === "main") for (const key of MAIN_INDEXES) await collection.createIndex(key);
    else if (base === "id-only") await store.db.createCollection("agents");
    else throw new Error(`unknown variant ${variant}`);
    for (const name of drops) await collection.dropIndex(name);
    const indexes = (await collection.indexes()).map((i) => i.name);
    const repo = createMongoAgentRepository(store.db, { server: store.server });
    const agents = Array.from({ length: n }, (_, i) => agentAt(i, halved));
    for (let i = 0; i < n; i += 500) await Promise.all(agents.slice(i, i + 500).map((a) => repo.save(a)));
    const stats = (await store.db.command({ collStats: "agents" })) as { avgObjSize?: number };
    console.log(`${variant}: ${n} agents, ${stats.avgObjSize ?? "?"} B a document, indexes: ${indexes.join(" ")} (${store.server})`);
    for (let r = 0; r < rounds; r++) {
      for (const a of agents) a.spec!.assignment!.version = r + 2;
      const store0 = storeServerCpuMs();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const wrote = await repo.saveMany(agents);
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const storeMs = storeServerCpuMs() - store0;
      const ok = wrote.filter((w) => w === true).length;
      console.log(`  pin round ${r + 1}: ${ok} written in ${(ms / 1000).toFixed(2)} s; store ${(storeMs / ok).toFixed(3)} ms CPU per document, probe ${((cpu.user + cpu.system) / 1000 / ok).toFixed(3)} ms`);
    }
    // Each query's own find, explained as sent (the driver's command events give it).
    let lastFind: Record<string, unknown> | undefined;
    store.client.on("commandStarted", (e) => void (e.commandName === "find" && (lastFind = e.command)));
    for (const [label, run] of QUERIES) {
      const times: number[] = [];
      let found = 0;
      const store0 = storeServerCpuMs();
      for (let k = 0; k < 5; k++) {
        const t0 = performance.now();
        const out = await run(repo);
        times.push(performance.now() - t0);
        found = (out as unknown[]).length;
      }
      const storeMs = (storeServerCpuMs() - store0) / 5;
      const { $db: _db, lsid: _lsid, $clusterTime: _ct, ...find } = lastFind ?? {};
      const plan = await store.db.command({ explain: find, verbosity: "queryPlanner" });
      const median = times.sort((a, b) => a - b)[2]!;
      console.log(`  ${label.padEnd(40)} ${String(found).padStart(4)} found, ${median.toFixed(1).padStart(7)} ms (median of 5), store ${storeMs.toFixed(1)} ms CPU a query; index: ${indexesInPlan(plan).join(", ") || "none"}`);
    }
  } finally {
    await store.db.dropDatabase().catch(() => {});
    await store.close();
  }
}

for (const v of variants) await probe(v);
