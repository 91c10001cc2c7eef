/**
 * What a new agent's writes to the embedded store cost, by part, warm and
 * cold: whole-process CPU (process.cpuUsage: the main thread, lmdb-js's
 * commit thread and V8's helpers) per agent over rounds of N new agents,
 * `concurrency` writes in flight at once as in a storm. Figures, never
 * pass/fail (docs/performance.md §56). The first round is a fresh process's:
 * its code cold, as in a gateway's first storm after a deploy.
 *
 *   npx tsx bench/store-micro.ts [agents=4000] [concurrency=64] [variant=repo]
 *
 * Variants: encode (the stored Agent's bytes only), put (encode + one async
 * put, no transaction), txput (encode + the put in a transaction of its
 * own), repo (the agent repository's save: the revision check and its index
 * tables in one transaction, as a new agent's first report does), conn (the
 * connection record's save), both (conn and repo, as a new agent does),
 * get (a read of an agent not stored: a new agent's first look-up).
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AgentSchema, ConnectionSchema, ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openEmbeddedStore } from "../services/platform-node/src/embedded-store.js";
import { createLmdbAgentRepository, createLmdbConnectionRepository } from "../services/agent-service/src/adapters/lmdb-agent-repository.js";
import { prefixedBinaryEncoder } from "../services/platform-node/src/prefixed-binary-encoder.js";
import { agentDescription, effectiveConfig, health, INITIAL_CONFIG, SIM_CAPABILITIES } from "../services/simulator/src/agent-profile.js";

const count = Number(process.argv[2] ?? 4000);
const conc = Number(process.argv[3] ?? 64);
const variant = process.argv[4] ?? "repo";
const now = Date.now();
let base = 0;
if (!["encode", "put", "txput", "repo", "conn", "both", "get"].includes(variant)) {
  process.stderr.write(`unknown variant ${variant}: encode | put | txput | repo | conn | both | get\n`);
  process.exit(2);
}
const uid = (i: number) => { const b = new Uint8Array(16); new DataView(b.buffer).setUint32(12, i); b[0] = 0x01; return b; };
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** A stored Agent as a storm's new agent leaves it (as bench/encoder-micro.ts builds it), at revision 0: new. */
const mk = (i: number) => create(AgentSchema, {
  metadata: { instanceUid: uid(i), instanceUidHex: hex(uid(i)), description: agentDescription(i, hex(uid(i))), capabilities: SIM_CAPABILITIES, createdAt: timestampFromMs(now), namespace: "default" },
  status: { effectiveConfig: effectiveConfig(new TextEncoder().encode(INITIAL_CONFIG)), health: health(BigInt(now) * 1_000_000n, BigInt(now) * 1_000_000n), connected: true, sequenceNum: 0n, lastSeenAt: timestampFromMs(now), connectionType: ConnectionType.WEBSOCKET, connectionId: `gw-1/${i}`, gatewayId: "standalone-5e8fd962", connectedAt: timestampFromMs(now), opampEndpoint: "ws://127.0.0.1:4320/v1/opamp" },
  revision: 0n,
});
const mkc = (i: number) => create(ConnectionSchema, { id: `gw-1/${i}`, type: ConnectionType.WEBSOCKET, gatewayId: "standalone-5e8fd962", instanceUid: uid(i), remoteAddress: "127.0.0.1", openedAt: timestampFromMs(now), endpoint: "ws://127.0.0.1:4320/v1/opamp", gatewayEpoch: "01a222a626e77f90a247953a5b9055a5" });
const dir = mkdtempSync(join(tmpdir(), "store-micro-"));
const store = openEmbeddedStore(dir);
const repo = createLmdbAgentRepository(store);
const conns = createLmdbConnectionRepository(store);
const raw = store.openDB<Buffer, string>({ name: "raw", encoding: "binary" });
const enc = prefixedBinaryEncoder(AgentSchema);
async function round(): Promise<number> {
  const agents = Array.from({ length: count }, (_, i) => mk(base + i));
  const cs = Array.from({ length: count }, (_, i) => mkc(base + i));
  base += count;
  const t0 = process.cpuUsage();
  for (let i = 0; i < count; i += conc) {
    const ps: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(count, i + conc); j++) {
      const a = agents[j]!;
      const key = hex(a.metadata!.instanceUid);
      if (variant === "repo") ps.push(repo.save(a));
      else if (variant === "conn") ps.push(conns.save(cs[j]!));
      else if (variant === "both") ps.push(conns.save(cs[j]!), repo.save(a));
      else if (variant === "encode") enc(a, 8);
      else if (variant === "txput") {
        const bytes = enc(a, 8);
        ps.push(store.transaction(() => raw.put(key, bytes)));
      } else if (variant === "put") ps.push(raw.put(key, enc(a, 8)));
      else ps.push(repo.get(key));
    }
    await Promise.all(ps);
  }
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / count;
}
const out: string[] = [];
for (let r = 0; r < 6; r++) out.push((await round()).toFixed(1));
console.log(variant, "µs/agent per round:", out.join(" "));
await store.close();
rmSync(dir, { recursive: true, force: true });
