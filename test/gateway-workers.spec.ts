import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService, ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import { bearer } from "./support/admin-key.js";
import { stopChild } from "./support/child-process.js";
import { WsAgent, description } from "./support/simulated-agent.js";
import { eventually, startTestServer } from "./support/standalone-server.js";
import { startStandaloneProcess } from "./support/standalone-process.js";

/** Agents connect until both workers hold some (the workers accept themselves, so which one is the kernel's race). */
const MAX_AGENTS = 64;

/**
 * `fleetplane standalone --workers 2`: the OpAMP port shared round-robin by
 * two gateway worker processes, agent-service in the primary. Agents spread
 * over both workers, agent-service knows which worker holds each one, a push
 * reaches the worker holding the agent's socket, and SIGTERM stops the
 * workers first (sockets closed with 1001, agents recorded disconnected).
 */
describe("standalone with gateway workers", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-workers-"));
  let child: ChildProcess;
  let exited: Promise<number | null>;
  let opampUrl = "";
  let apiUrl = "";
  let api: { agents: ReturnType<typeof createClient<typeof AgentService>>; connections: ReturnType<typeof createClient<typeof ConnectionService>> };
  const agents: WsAgent[] = [];

  beforeAll(async () => {
    const server = await startStandaloneProcess(["--workers", "2", "--opamp-port", "0", "--api-port", "0", "--data-dir", dataDir, "--no-console"]);
    ({ child, exited, opampUrl, apiUrl } = server);
    const key = server.adminKey;
    const transport = createConnectTransport({ baseUrl: apiUrl, httpVersion: "1.1", interceptors: [bearer(key)] });
    api = { agents: createClient(AgentService, transport), connections: createClient(ConnectionService, transport) };
    for (let i = 0; i < MAX_AGENTS; i++) {
      const agent = await WsAgent.connect(opampUrl);
      agent.send({ agentDescription: description(`worker-agent-${i}`) as never });
      agents.push(agent);
      await eventually(() => agent.received[0], 20_000, "first reply");
      if (i % 4 === 3 && new Set((await connectionsByAgent()).values()).size === 2) break;
    }
  }, 180_000);

  afterAll(async () => {
    for (const a of agents) a.socket.terminate();
    if (child) await stopChild(child, "SIGKILL");
  });

  const connectionsByAgent = async () => {
    const { connections } = await api.connections.listConnections({ pageSize: 100 });
    return new Map(connections.map((c) => [instanceUidToHex(c.instanceUid), c.gatewayId]));
  };

  it(`spreads agents over both workers (within ${MAX_AGENTS} agents), each a gateway of its own that agent-service knows`, async () => {
    const byAgent = await eventually(async () => {
      const m = await connectionsByAgent();
      return m.size === agents.length ? m : undefined;
    }, 10_000, "every agent's connection recorded");
    const gateways = new Set(byAgent.values());
    expect([...gateways].map((g) => g.replace(/^standalone-[0-9a-f]+-/, "")).sort()).toEqual(["w1", "w2"]);
    for (const a of agents) expect(byAgent.get(instanceUidToHex(a.uid))).toMatch(/-w[12]$/);
  });

  it("a push to an agent reaches the worker holding its socket, on either worker", async () => {
    const byAgent = await connectionsByAgent();
    // One agent on each worker.
    const targets = ["w1", "w2"].map((w) => agents.find((a) => byAgent.get(instanceUidToHex(a.uid))?.endsWith(`-${w}`))!);
    for (const [i, agent] of targets.entries()) {
      const body = `receivers:\n  nop: {}\n# pushed to worker ${i + 1}\n`;
      await api.agents.setRemoteConfig({ instanceUid: instanceUidToHex(agent.uid), files: { "": { content: { case: "text", value: body } } }, requestedBy: "test" });
      await eventually(() => agent.received.find((m) => new TextDecoder().decode(m.remoteConfig?.config?.configMap[""]?.body ?? new Uint8Array()).includes(`worker ${i + 1}`)), 10_000, `the config pushed to the agent on worker ${i + 1}`);
    }
  });

  it("the primary's /metrics counts the workers' agents and messages with its own process's figures", async () => {
    /** A sample's value in the Prometheus text, summed over its label sets; undefined if absent. */
    const sample = (text: string, name: string) => {
      const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))].map((m) => Number(m[1]));
      return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
    };
    const text = await eventually(async () => {
      const t = await (await fetch(`${apiUrl}/metrics`)).text();
      return sample(t, "fleetplane_opamp_connected_agents") === agents.length ? t : undefined;
    }, 10_000, `fleetplane_opamp_connected_agents = ${agents.length}`);
    // Every agent's first message, whichever worker took it (the primary receives none itself).
    expect(sample(text, "fleetplane_opamp_messages_received_total")).toBeGreaterThanOrEqual(agents.length);
    // agent-service's metrics are the primary's, and still there.
    expect(text).toMatch(/^fleetplane_process_cpu_seconds_total \S+$/m);
  });

  it("SIGTERM stops the workers gracefully: sockets closed with 1001, agents recorded disconnected, exit 0", async () => {
    child.kill("SIGTERM");
    for (const a of agents) await eventually(() => a.closeCode, 20_000, "close frame");
    expect(new Set(agents.map((a) => a.closeCode))).toEqual(new Set([1001]));
    expect(await exited).toBe(0);
    // What the store holds after the process: one fresh server looks at every agent.
    const again = await startTestServer({ dataDir });
    try {
      for (const a of agents) expect((await again.agents.getAgent({ instanceUid: instanceUidToHex(a.uid) })).agent?.status?.connected).toBe(false);
    } finally {
      await again.server.close();
    }
  }, 60_000);
});

/** The PIDs of a process's Node children (Linux: /proc/<pid>/task/<tid>/children); the bundler's service process is not one. */
const nodeChildPids = (pid: number) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((child) => readFileSync(`/proc/${child}/cmdline`, "utf8").split("\0")[0] === process.execPath);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("standalone with gateway workers, the primary killed -9", () => {
  it("its workers stop by themselves, agents connected and talking, and free the OpAMP port", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-workers-orphan-"));
    const server = await startStandaloneProcess(["--workers", "2", "--opamp-port", "0", "--api-port", "0", "--data-dir", dataDir, "--no-console"]);
    const agents: WsAgent[] = [];
    try {
      const workers = await eventually(() => {
        const pids = nodeChildPids(server.child.pid!);
        return pids.length === 2 ? pids : undefined;
      }, 10_000, "two worker processes");
      for (let i = 0; i < 8; i++) agents.push(await WsAgent.hello(server.opampUrl, undefined, { agentDescription: description(`orphan-${i}`) as never }));
      // Messages in flight when the primary dies: their calls to agent-service have no one to answer them.
      for (const a of agents) a.send({ agentDescription: description("changed") as never });
      server.child.kill("SIGKILL");
      await eventually(() => workers.every((pid) => !alive(pid)), 30_000, `workers ${workers.join(", ")} gone after their primary`);
      const port = Number(new URL(server.opampUrl).port);
      const free = await new Promise<boolean>((resolve) => {
        const probe = createServer().once("error", () => resolve(false));
        probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
      });
      expect(free).toBe(true);
    } finally {
      for (const a of agents) a.socket.terminate();
      await stopChild(server.child, "SIGKILL");
    }
  }, 90_000);
});
