/**
 * What one cached Agent holds in agent-service's heap (docs/performance.md
 * §39): N agents built the way AgentStore caches them — the simulator's
 * first report (description, effective config, health) encoded, decoded
 * as agent-service receives it, applied to a new Agent by report(), then
 * what settle() does: SharedValues.share and ownBytes — kept in a Map; the
 * heap in use after full collections, over N.
 *
 *   node --expose-gc --import tsx bench/cached-agent-heap.ts [N] [variant] [snapshot-file]
 *
 * variant: "shared" (as the store keeps them; the default), "unshared"
 * (without SharedValues: main before §39), or "unshared" with parts
 * dropped to see their share: "-nodesc", "-noeff", "-nohealth" appended
 * (e.g. unshared-nodesc); "shared" also prints the time share() took per
 * new agent and per later change. snapshot-file: also write a heap snapshot and
 * print its largest kinds of objects per agent. External memory
 * (ArrayBuffers' contents) is not in the heap figure.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { readFileSync } from "node:fs";
import { writeHeapSnapshot } from "node:v8";
import { ConnectionSchema, ConnectionType, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex, ownBytes, uuidv7Bytes } from "@fleetplane/platform";
import { newAgent, report } from "../services/agent-service/src/agents/agent-model.js";
import { SharedValues } from "../services/agent-service/src/agents/shared-values.js";
import { agentDescription, effectiveConfig, health, INITIAL_CONFIG, SIM_CAPABILITIES } from "../services/simulator/src/agent-profile.js";
import { summariseHeapSnapshot } from "./heap-summary.js";

const n = Number(process.argv[2] ?? 20_000);
const variant = process.argv[3] ?? "shared";
const snapshotFile = process.argv[4];
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

const cache = new Map<string, Agent>();
const shared = new SharedValues();
const body = new TextEncoder().encode(INITIAL_CONFIG);
let shareNs = 0n;
gc();
gc();
const before = process.memoryUsage().heapUsed;
for (let i = 0; i < n; i++) {
  const uid = uuidv7Bytes();
  const hex = instanceUidToHex(uid);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const frame = toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 0n, capabilities: SIM_CAPABILITIES, agentDescription: agentDescription(i, hex), effectiveConfig: effectiveConfig(body), health: health(nowNs, nowNs) }));
  const msg = fromBinary(AgentToServerSchema, frame);
  // A connection as the gateway's batch decodes it: its strings are each agent's own.
  const connection = fromBinary(ConnectionSchema, toBinary(ConnectionSchema, create(ConnectionSchema, { id: `gw-1/ws/${i}`, type: ConnectionType.WEBSOCKET, gatewayId: "gw-1", gatewayEpoch: "0190a8b2-aaaa-7000-8000-000000000000", endpoint: "ws://127.0.0.1:4320/v1/opamp" })));
  // As AgentStore.mutate makes a new agent: its UID from the hex key.
  const agent = newAgent(Buffer.from(hex, "hex"), Date.now());
  report(agent, msg, connection, { now: Date.now(), known: false });
  if (variant.includes("nodesc")) agent.metadata!.description = undefined;
  if (variant.includes("noeff")) agent.status!.effectiveConfig = undefined;
  if (variant.includes("nohealth")) agent.status!.health = undefined;
  if (variant.startsWith("shared")) {
    const t0 = process.hrtime.bigint();
    shared.share(agent);
    shareNs += process.hrtime.bigint() - t0;
  }
  ownBytes(agent);
  cache.set(hex, agent);
}
gc();
gc();
const used = process.memoryUsage().heapUsed - before;
console.log(`${variant}: ${cache.size} cached agents, ${(used / cache.size / 1024).toFixed(2)} KiB of heap each`);
if (variant.startsWith("shared")) {
  // Again on every cached agent: what each later change written at once costs (all already shared).
  const t0 = process.hrtime.bigint();
  for (const agent of cache.values()) shared.share(agent);
  const againNs = process.hrtime.bigint() - t0;
  console.log(`  share(): ${(Number(shareNs) / n / 1000).toFixed(2)} µs per new agent, ${(Number(againNs) / n / 1000).toFixed(2)} µs per change of a cached one`);
}
if (snapshotFile) {
  const summary = summariseHeapSnapshot(readFileSync(writeHeapSnapshot(snapshotFile), "utf8"));
  for (const [name, e] of [...summary.byName].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 12)) {
    console.log(`  ${name.padEnd(44)} ${(e.count / n).toFixed(2).padStart(6)} per agent ${(e.bytes / n).toFixed(0).padStart(5)} B`);
  }
}
