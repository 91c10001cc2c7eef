import { create, toBinary } from "@bufbuild/protobuf";
import { AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { uuidv7Bytes } from "@fleetplane/platform";
import http from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import WebSocket from "ws";
// The /proc reader the benchmarks use: one reading of RSS for bench and chaos alike.
import { processStats } from "../../bench/proc-stats.js";
import { adminClients } from "./admin-clients.js";
import { ProbeAgent } from "./probe-agent.js";
import { Fleet } from "@fleetplane/simulator";
import { ServerProcess, standaloneCommand } from "./server-process.js";

/** The abuse cases of issue 15 (items 1, 2 and 4), each against a fresh server with a valid agent beside it. */
export const ABUSE_SCENARIOS = ["huge-description", "new-uids", "silent-websockets"] as const;
export type AbuseScenario = (typeof ABUSE_SCENARIOS)[number];

export interface AbuseOptions {
  /**
   * huge-description: senders (default 1), each sending its description
   * again as soon as it is answered for `hugeSeconds` (default 20), of
   * `hugeMiB` inflated (default 50, the target: made of ~64-byte
   * attributes), gzip-compressed; beside `loadAgents` WebSocket agents
   * reporting every `loadIntervalMs` (default 500 agents every 2 s), whose
   * reply p99 is measured for as long before the abuse (baseline) as during it.
   */
  hugeSenders?: number;
  hugeMiB?: number;
  hugeSeconds?: number;
  loadAgents?: number;
  loadIntervalMs?: number;
  /** new-uids: how long one source creates new UIDs (default 20 s). */
  newUidSeconds?: number;
  /** silent-websockets: sockets opened (default 2,000) and how long they are watched (default 60 s). */
  silentSockets?: number;
  silentSeconds?: number;
}

/** What one abuse case did to the server: figures, not verdicts (they show the effect of the limits as they land). */
export interface AbuseReport {
  scenario: AbuseScenario;
  /** What the abuser got: statuses / outcomes with counts. */
  abuser: Record<string, number | string>;
  /** Agents in the store after the scenario (the abuser's included). */
  agentsStored: number | undefined;
  /** Agents the server counts as connected at the end. */
  agentsConnected: number | undefined;
  /** The valid agent beside the abuse: reply latency (ms), late (> 1 s) replies, reconnects. */
  validAgent: ReturnType<ProbeAgent["summary"]>;
  /** huge-description: the load agents' reply latency (ms) before the abuse and during it. */
  load?: { agents: number; before: LatencySummary; during: LatencySummary };
  serverLinesLogged: number;
  serverRssMiB: number;
  serverDied: string | undefined;
}

export async function runAbuse(scenario: AbuseScenario, options: AbuseOptions = {}): Promise<AbuseReport> {
  const server = await ServerProcess.start(standaloneCommand(mkdtempSync(join(tmpdir(), `fleetplane-chaos-${scenario}-`))));
  const probe = new ProbeAgent(server.opampWsUrl);
  probe.start();
  try {
    await new Promise((r) => setTimeout(r, 1_000));
    probe.reset();
    const linesBefore = server.linesLogged;
    let load: AbuseReport["load"];
    let abuser: Record<string, number | string>;
    if (scenario === "huge-description") {
      const measured = await underLoad(server, probe, options, () => hugeDescriptions(server, options));
      abuser = measured.abuser;
      load = measured.load;
    } else {
      abuser = scenario === "new-uids" ? await newUids(server, options) : await silentWebSockets(server, options);
    }
    const summary = server.alive ? await adminClients(server.apiUrl, server.adminKey).agents.getFleetSummary({}, { timeoutMs: 120_000 }).then((r) => r.summary).catch(() => undefined) : undefined;
    return {
      scenario,
      abuser,
      agentsStored: summary ? Number(summary.total) : undefined,
      agentsConnected: summary ? Number(summary.connected) : undefined,
      validAgent: probe.summary(),
      ...(load ? { load } : {}),
      serverLinesLogged: server.linesLogged - linesBefore,
      serverRssMiB: server.alive ? Math.round(processStats(server.pid).rssBytes / 2 ** 20) : 0,
      serverDied: server.problem(),
    };
  } finally {
    probe.stop();
    await server.stop();
  }
}

type LatencySummary = ReturnType<Fleet["stats"]["latency"]["summary"]>;

/**
 * Runs `abuse` beside a fleet of well-behaved agents, measuring their reply
 * latency for as long before it (the baseline) as during it. The probe's
 * window is the abuse alone.
 */
async function underLoad(
  server: ServerProcess,
  probe: ProbeAgent,
  o: AbuseOptions,
  abuse: () => Promise<Record<string, number | string>>,
): Promise<{ abuser: Record<string, number | string>; load: NonNullable<AbuseReport["load"]> }> {
  const agents = o.loadAgents ?? 500;
  const fleet = new Fleet({ url: server.opampWsUrl, agents, transport: "ws", intervalMs: o.loadIntervalMs ?? 2_000, jitter: 0.3, closedLoop: false, gzip: false, failMarker: "", rampPerSecond: 500 });
  try {
    await fleet.start();
    await fleet.whenFirstReplies(agents, 120_000);
    fleet.resetLatency();
    await new Promise((r) => setTimeout(r, (o.hugeSeconds ?? 20) * 1000));
    const before = fleet.stats.latency.summary();
    fleet.resetLatency();
    probe.reset();
    const abuser = await abuse();
    return { abuser, load: { agents, before, during: fleet.stats.latency.summary() } };
  } finally {
    fleet.stop();
  }
}

/**
 * Issue 15 item 1: descriptions of very many attributes, gzip-compressed,
 * each sender sending its own again as soon as it is answered: one always
 * in flight per sender.
 */
async function hugeDescriptions(server: ServerProcess, o: AbuseOptions): Promise<Record<string, number | string>> {
  const senders = o.hugeSenders ?? 1;
  const seconds = o.hugeSeconds ?? 20;
  const attribute = (i: number) => ({ key: `attribute.number.${String(i).padStart(9, "0")}`, value: { value: { case: "stringValue" as const, value: `value of attribute ${String(i).padStart(9, "0")}` } } });
  // Each attribute encodes to the same size: as many as make the size asked for.
  const sized = (n: number) => toBinary(AgentToServerSchema, create(AgentToServerSchema, { agentDescription: { identifyingAttributes: Array.from({ length: n }, (_, i) => attribute(i)) } })).length;
  const one = sized(2) - sized(1);
  const attributes = Math.ceil(((o.hugeMiB ?? 50) * 2 ** 20) / one);
  const bodyOf = () => {
    const inflated = toBinary(
      AgentToServerSchema,
      create(AgentToServerSchema, { instanceUid: uuidv7Bytes(), capabilities: 1n, agentDescription: { identifyingAttributes: Array.from({ length: attributes }, (_, i) => attribute(i)) } }),
    );
    return { inflatedBytes: inflated.length, gzip: gzipSync(inflated) };
  };
  const bodies = Array.from({ length: senders }, bodyOf);
  const results: string[] = [];
  const answerMs: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    bodies.map(async ({ gzip }) => {
      while (performance.now() < deadline) {
        const sent = performance.now();
        results.push(await post(server.opampHttpUrl, gzip, { "content-encoding": "gzip" }, 120_000));
        answerMs.push(performance.now() - sent);
      }
    }),
  );
  return {
    senders,
    attributes,
    inflatedMiBEach: Math.round((bodies[0]!.inflatedBytes / 2 ** 20) * 10) / 10,
    gzipBytesEach: bodies[0]!.gzip.length,
    seconds,
    sent: results.length,
    answeredInMsMax: Math.round(Math.max(...answerMs)),
    ...tally(results),
  };
}

/** Issue 15 item 2: one source inventing a new instance UID per request, as fast as the server lets it. */
async function newUids(server: ServerProcess, o: AbuseOptions): Promise<Record<string, number | string>> {
  const seconds = o.newUidSeconds ?? 20;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const results: string[] = [];
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (performance.now() < deadline) {
        const body = toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: uuidv7Bytes(), capabilities: 1n }));
        results.push(await post(server.opampHttpUrl, body, {}, 30_000, agent));
      }
    }),
  );
  agent.destroy();
  return { seconds, requests: results.length, requestsPerSecond: Math.round(results.length / seconds), ...tally(results) };
}

/** Issue 15 item 4: WebSockets that open and never say anything. */
async function silentWebSockets(server: ServerProcess, o: AbuseOptions): Promise<Record<string, number | string>> {
  const count = o.silentSockets ?? 2_000;
  const seconds = o.silentSeconds ?? 60;
  let opened = 0;
  let closedByServer = 0;
  let failed = 0;
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = new WebSocket(server.opampWsUrl, { perMessageDeflate: false });
    sockets.push(socket);
    socket.on("open", () => opened++);
    socket.on("error", () => failed++);
    socket.on("close", () => closedByServer++);
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const stillOpen = sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
  for (const s of sockets) {
    s.removeAllListeners("close");
    s.terminate();
  }
  return { sockets: count, opened, failed, closedByServerWithin: closedByServer, stillOpenAfterSeconds: stillOpen, seconds };
}

function post(url: string, body: Uint8Array, headers: Record<string, string>, timeoutMs: number, agent?: http.Agent): Promise<string> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/x-protobuf", ...headers }, timeout: timeoutMs, ...(agent ? { agent } : {}) }, (res) => {
      res.resume();
      res.on("end", () => resolve(`http ${res.statusCode}`));
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })));
    req.on("error", (err: NodeJS.ErrnoException) => resolve(`http ${err.code ?? "error"}`));
    req.end(body);
  });
}

function tally(results: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) out[r] = (out[r] ?? 0) + 1;
  return out;
}
