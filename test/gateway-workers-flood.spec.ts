import type { ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServerErrorResponseType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import { bearer } from "./support/admin-key.js";
import { stopChild } from "./support/child-process.js";
import { WsAgent, description } from "./support/simulated-agent.js";
import { eventually } from "./support/eventually.js";
import { startStandaloneProcess } from "./support/standalone-process.js";

const FLOOD = 150;
/** --max-connecting-agents: 4 per worker. */
const CONNECTING = 8;

/**
 * A flood of new agents on `standalone --workers 2`: every first message
 * crosses from a worker to agent-service, and a flood faster than it answers
 * used to pile up in the workers (gigabytes at 47,000 agents). With
 * --max-connecting-agents the sessions beyond it are refused with
 * UNAVAILABLE + RetryInfo and come back; every agent gets in, none is lost,
 * and an agent already connected is served throughout.
 */
describe("a flood of new agents on gateway workers", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-flood-"));
  let child: ChildProcess;
  let opampUrl = "";
  let agents: ReturnType<typeof createClient<typeof AgentService>>;
  const flood: WsAgent[] = [];

  beforeAll(async () => {
    const args = ["--workers", "2", "--opamp-port", "0", "--api-port", "0", "--data-dir", dataDir, "--no-console"];
    // Rates off: the limit under test is the one on unanswered first messages, not how fast agents may come.
    // A refused socket is closed if no message of it is admitted within --first-message-timeout-seconds: longer than the test.
    args.push("--max-connecting-agents", String(CONNECTING), "--retry-after-seconds", "1", "--first-message-timeout-seconds", "120", "--new-agents-per-second-per-source", "0", "--new-agents-per-second", "0");
    const server = await startStandaloneProcess(args);
    ({ child, opampUrl } = server);
    const { apiUrl, adminKey: key } = server;
    agents = createClient(AgentService, createConnectTransport({ baseUrl: apiUrl, httpVersion: "1.1", interceptors: [bearer(key)] }));
  }, 90_000);

  afterAll(async () => {
    for (const a of flood) a.socket.terminate();
    if (child) await stopChild(child, "SIGKILL");
  });

  it(`admits ${FLOOD} agents arriving at once at the rate agent-service answers: the rest told to retry, none lost, a connected agent served throughout`, async () => {
    const steady = await WsAgent.connect(opampUrl);
    steady.send({ agentDescription: description("steady") as never });
    await eventually(() => steady.received[0], 20_000, "the steady agent's first reply");
    expect(steady.received[0]!.errorResponse).toBeUndefined();

    // Each flood agent sends its full first report; refused, it says it all again after the retry hint, on the same socket.
    let refusals = 0;
    const unexpected: string[] = [];
    const answered = new Set<WsAgent>();
    const sockets = await Promise.all(Array.from({ length: FLOOD }, () => WsAgent.connect(opampUrl)));
    for (const [i, agent] of sockets.entries()) {
      flood.push(agent);
      const report = () => agent.send({ agentDescription: description(`flood-${i}`) as never });
      agent.socket.on("message", () => {
        const reply = agent.received.at(-1)!;
        const error = reply.errorResponse;
        if (!error) return void answered.add(agent);
        if (error.type !== ServerErrorResponseType.ServerErrorResponseType_Unavailable || error.Details.case !== "retryInfo") return void unexpected.push(`flood-${i}: ${error.errorMessage}`);
        refusals++;
        setTimeout(report, Number(error.Details.value.retryAfterNanoseconds / 1_000_000n));
      });
      report();
    }

    // The steady agent heartbeats all through the flood; each is answered promptly.
    const heartbeatMs: number[] = [];
    while (answered.size < FLOOD && unexpected.length === 0) {
      const before = steady.received.length;
      const sent = performance.now();
      steady.send();
      await eventually(() => steady.received.length > before, 10_000, "the steady agent's heartbeat answered during the flood");
      heartbeatMs.push(performance.now() - sent);
      expect(steady.received.at(-1)!.errorResponse).toBeUndefined();
      if (heartbeatMs.length > 600) throw new Error(`only ${answered.size} of ${FLOOD} flood agents answered within ~60 s (${refusals} refusals)`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(unexpected).toEqual([]);
    // Without the limit, all first messages would have been handed on at once.
    expect(refusals).toBeGreaterThan(0);
    expect(Math.max(...heartbeatMs)).toBeLessThan(5_000);

    // None lost: every agent is stored, connected, with the description it sent.
    for (const [i, agent] of [steady, ...flood].entries()) {
      const stored = (await agents.getAgent({ instanceUid: instanceUidToHex(agent.uid) })).agent;
      expect(stored?.status?.connected, `agent ${i}`).toBe(true);
    }
    process.stdout.write(`  flood of ${FLOOD} on 2 workers, ${CONNECTING} connecting at most: ${refusals} refusals, steady heartbeat max ${Math.round(Math.max(...heartbeatMs))} ms\n`);
  }, 120_000);
});
