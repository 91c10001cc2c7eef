/**
 * What encoding costs per message: the stored Agent of a new agent, its
 * Connection record and a first reply, by protobuf-es's toBinary (copied
 * behind an 8-byte prefix, as the store did before §19) and by
 * prefixedBinaryEncoder (what the store and the gateway use). Figures, never
 * pass/fail (docs/performance.md §55).
 *
 *   npx tsx bench/encoder-micro.ts [messages=4000] [rounds=5]
 */
import { create, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AgentSchema, ConnectionSchema, ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { ServerToAgentFlags, ServerToAgentSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { prefixedBinaryEncoder } from "../services/platform-node/src/prefixed-binary-encoder.js";
import { agentDescription, effectiveConfig, health, INITIAL_CONFIG, SIM_CAPABILITIES } from "../services/simulator/src/agent-profile.js";

const count = Number(process.argv[2] ?? 4000);
const rounds = Number(process.argv[3] ?? 5);
const now = Date.now();

const uid = (i: number) => {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint32(12, i);
  b[0] = 0x01;
  return b;
};
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** A stored Agent as a storm's new agent leaves it: its description, status and connection. */
const agents = Array.from({ length: count }, (_, i) =>
  create(AgentSchema, {
    metadata: { instanceUid: uid(i), instanceUidHex: hex(uid(i)), description: agentDescription(i, hex(uid(i))), capabilities: SIM_CAPABILITIES, createdAt: timestampFromMs(now), namespace: "default" },
    status: {
      effectiveConfig: effectiveConfig(new TextEncoder().encode(INITIAL_CONFIG)),
      health: health(BigInt(now) * 1_000_000n, BigInt(now) * 1_000_000n),
      connected: true,
      sequenceNum: 0n,
      lastSeenAt: timestampFromMs(now),
      connectionType: ConnectionType.WEBSOCKET,
      connectionId: `gw-1/${i}`,
      gatewayId: "standalone-5e8fd962",
      connectedAt: timestampFromMs(now),
      opampEndpoint: "ws://127.0.0.1:4320/v1/opamp",
    },
    revision: 1n,
  }),
);
const connections = Array.from({ length: count }, (_, i) =>
  create(ConnectionSchema, { id: `gw-1/${i}`, type: ConnectionType.WEBSOCKET, gatewayId: "standalone-5e8fd962", instanceUid: uid(i), remoteAddress: "127.0.0.1", openedAt: timestampFromMs(now), endpoint: "ws://127.0.0.1:4320/v1/opamp", gatewayEpoch: "01a222a626e77f90a247953a5b9055a5" }),
);
const replies = Array.from({ length: count }, (_, i) => create(ServerToAgentSchema, { instanceUid: uid(i), flags: BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState), capabilities: 0x3fn }));

const cases: Array<{ name: string; schema: DescMessage; messages: unknown[] }> = [
  { name: "stored Agent", schema: AgentSchema, messages: agents },
  { name: "Connection", schema: ConnectionSchema, messages: connections },
  { name: "ServerToAgent", schema: ServerToAgentSchema, messages: replies },
];

const viaToBinary = (schema: DescMessage) => (m: unknown, prefix: number) => {
  const body = toBinary(schema, m as never);
  const out = Buffer.allocUnsafe(prefix + body.length);
  out.set(body, prefix);
  return out;
};

process.stdout.write(`encoder micro-benchmark: ${count} messages × ${rounds} rounds, µs per message (load average ${(await import("node:os")).loadavg()[0]!.toFixed(2)})\n`);
for (const c of cases) {
  const variants: Array<[string, (m: unknown, prefix: number) => Buffer]> = [
    ["toBinary + copy", viaToBinary(c.schema)],
    ["prefixedBinaryEncoder", prefixedBinaryEncoder(c.schema) as (m: unknown, prefix: number) => Buffer],
  ];
  const figures = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  let bytes = 0;
  for (let r = 0; r < rounds; r++) {
    // The variants alternate within a round, each warmed by the round before.
    for (const [name, encode] of variants) {
      const t0 = process.hrtime.bigint();
      for (const m of c.messages) bytes = encode(m, 8).length;
      figures.get(name)!.push(Number(process.hrtime.bigint() - t0) / 1000 / c.messages.length);
    }
  }
  for (const [name, us] of figures) {
    const settled = us.slice(1);
    process.stdout.write(`  ${c.name.padEnd(14)} ${String(bytes).padStart(5)} B  ${name.padEnd(22)} ${settled.map((x) => x.toFixed(2)).join(" · ")}  (min ${Math.min(...settled).toFixed(2)})\n`);
  }
}
