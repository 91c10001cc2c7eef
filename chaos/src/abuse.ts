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
import { ServerProcess, standaloneCommand } from "./server-process.js";

/** The abuse cases of issue 15 (items 1, 2 and 4), each against a fresh server with a valid agent beside it. */
export const ABUSE_SCENARIOS = ["huge-description", "new-uids", "silent-websockets"] as const;
export type AbuseScenario = (typeof ABUSE_SCENARIOS)[number];

export interface AbuseOptions {
  /** huge-description: concurrent senders (default 4) and attributes per description (default 200,000). */
  hugeSenders?: number;
  hugeAttributes?: number;
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
    const abuser =
      scenario === "huge-description" ? await hugeDescriptions(server, options) : scenario === "new-uids" ? await newUids(server, options) : await silentWebSockets(server, options);
    const summary = server.alive ? await adminClients(server.apiUrl, server.adminKey).agents.getFleetSummary({}, { timeoutMs: 120_000 }).then((r) => r.summary).catch(() => undefined) : undefined;
    return {
      scenario,
      abuser,
      agentsStored: summary ? Number(summary.total) : undefined,
      agentsConnected: summary ? Number(summary.connected) : undefined,
      validAgent: probe.summary(),
      serverLinesLogged: server.linesLogged - linesBefore,
      serverRssMiB: server.alive ? Math.round(processStats(server.pid).rssBytes / 2 ** 20) : 0,
      serverDied: server.problem(),
    };
  } finally {
    probe.stop();
    await server.stop();
  }
}

/** Issue 15 item 1: descriptions of very many attributes, gzip-compressed, from several agents at once. */
async function hugeDescriptions(server: ServerProcess, o: AbuseOptions): Promise<Record<string, number | string>> {
  const senders = o.hugeSenders ?? 4;
  const attributes = o.hugeAttributes ?? 200_000;
  const bodyOf = () =>
    gzipSync(
      toBinary(
        AgentToServerSchema,
        create(AgentToServerSchema, {
          instanceUid: uuidv7Bytes(),
          capabilities: 1n,
          agentDescription: { identifyingAttributes: Array.from({ length: attributes }, (_, i) => ({ key: `attribute.number.${i}`, value: { value: { case: "stringValue" as const, value: `value of attribute ${i}` } } })) },
        }),
      ),
    );
  const bodies = Array.from({ length: senders }, bodyOf);
  const started = performance.now();
  const results = await Promise.all(bodies.map((body) => post(server.opampHttpUrl, body, { "content-encoding": "gzip" }, 120_000)));
  return {
    senders,
    attributes,
    gzipBytesEach: bodies[0]!.length,
    secondsUntilAllAnswered: Math.round((performance.now() - started) / 100) / 10,
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
