import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService, CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { RemoteConfigStatuses, ServerToAgentFlags } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import { bearer } from "./support/admin-key.js";
import { createAdminKey } from "./support/distributed.js";
import { eventually } from "./support/eventually.js";
import { freePort } from "./support/free-port.js";
import { WsAgent, description, hasFlag } from "./support/simulated-agent.js";

const main = join(import.meta.dirname, "../services/fleetplane/src/main.ts");
const AGENTS = 24;
const SETTLED = new Set([CommandState.APPLIED, CommandState.FAILED, CommandState.SUPERSEDED]);

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const c of children) c.kill("SIGKILL");
  children.clear();
});

/** A standalone server process on fixed ports, so agents reconnect to the same URL after a restart. */
async function startServer(dataDir: string, opampPort: number, apiPort: number): Promise<ChildProcess> {
  const args = ["--import", "tsx", main, "standalone", "--opamp-port", String(opampPort), "--api-port", String(apiPort), "--data-dir", dataDir, "--no-console"];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "ignore"] });
  children.add(child);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("standalone did not start within 30 s")), 30_000);
    child.once("exit", (code) => reject(new Error(`standalone exited with ${code} while starting`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.includes('"msg":"Fleetplane standalone is running"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  await exited;
  children.delete(child);
}

/**
 * A WebSocket agent that behaves as agents do: applies every remote config it
 * is sent and reports it, tells its full state when asked, keeps its instance
 * UID and its sequence numbers across reconnects, and remembers any new UID
 * the server tried to give it.
 */
class FaithfulAgent {
  ws!: WsAgent;
  applied: Uint8Array = new Uint8Array();
  newUidsOffered = 0;
  private handled = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly uid: Uint8Array, readonly name: string) {}

  async connect(url: string, seq = 0n): Promise<void> {
    this.ws = await WsAgent.connect(url, this.uid);
    this.ws.seq = seq;
    this.handled = 0;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.pump(), 10);
  }

  fullState(): void {
    this.ws.send({
      agentDescription: description(this.name) as never,
      remoteConfigStatus: { $typeName: "opamp.proto.v1.RemoteConfigStatus", lastRemoteConfigHash: this.applied, status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED, errorMessage: "" },
    });
  }

  private pump(): void {
    if (this.ws.closeCode !== undefined) return;
    while (this.handled < this.ws.received.length) {
      const m = this.ws.received[this.handled++]!;
      if (m.agentIdentification) this.newUidsOffered++; // never adopted: the test counts them
      if (m.remoteConfig) {
        this.applied = m.remoteConfig.configHash;
        this.ws.reportConfig(this.applied, RemoteConfigStatuses.RemoteConfigStatuses_APPLIED);
      } else if (hasFlag(m.flags, ServerToAgentFlags.ServerToAgentFlags_ReportFullState)) {
        this.fullState();
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

// Issue 15 item 3: after kill -9, reconnecting agents were told their UID was
// a duplicate (the dead process's connections looked live) and audit records
// never settled.
describe("kill -9 of a standalone server with WebSocket agents and commands in flight", () => {
  it("keeps every agent on its UID and settles every command record after the restart", { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-kill9-"));
    const [opampPort, apiPort] = [await freePort(), await freePort()];
    const wsUrl = `ws://127.0.0.1:${opampPort}/v1/opamp`;
    // The admin key an operator would make on the store before the first start.
    const adminKey = await createAdminKey(["--data-dir", dataDir, "--name", "kill9-test"]);
    const transport = createConnectTransport({ baseUrl: `http://127.0.0.1:${apiPort}`, httpVersion: "1.1", interceptors: [bearer(adminKey)] });
    const agentsApi = createClient(AgentService, transport);
    const commandsApi = createClient(CommandService, transport);

    let server = await startServer(dataDir, opampPort, apiPort);
    const fleet = Array.from({ length: AGENTS }, (_, i) => new FaithfulAgent(crypto.getRandomValues(new Uint8Array(16)), `kill9-${i}`));
    fleet.forEach((a) => (a.uid[6] = (a.uid[6]! & 0x0f) | 0x70)); // a UUIDv7-shaped UID
    const hex = (a: FaithfulAgent) => instanceUidToHex(a.uid);
    const setConfig = (a: FaithfulAgent, text: string) =>
      agentsApi.setRemoteConfig({ instanceUid: hex(a), files: { "": { content: { case: "text", value: text } } }, requestedBy: "kill9-test" });

    try {
      for (const a of fleet) {
        await a.connect(wsUrl);
        a.fullState();
      }
      await eventually(() => fleet.every((a) => a.ws.received.length > 0), 20_000, "every agent's first reply");
      await Promise.all(fleet.map((a) => setConfig(a, `round: 1\nagent: ${a.name}\n`)));
      await eventually(() => fleet.every((a) => a.applied.length > 0), 20_000, "every agent to apply its first config");

      // Liveness the store has not written yet (it is batched), then new
      // configs in flight while the process dies.
      for (const a of fleet) for (let i = 0; i < 3; i++) a.ws.send({});
      const inFlight = fleet.filter((_, i) => i % 2 === 0).map((a) => setConfig(a, `round: 2\nagent: ${a.name}\n`).catch(() => undefined));
      await new Promise((r) => setTimeout(r, 30));
      await kill9(server);
      await Promise.all(inFlight);
      await eventually(() => fleet.every((a) => a.ws.closeCode !== undefined), 10_000, "every socket to close");

      server = await startServer(dataDir, opampPort, apiPort);
      for (const a of fleet) {
        await a.connect(wsUrl, a.ws.seq); // the same agent, counting on
        a.ws.send({});
      }

      const unsettled = async () => {
        const left: string[] = [];
        for (const a of fleet) {
          const { commands } = await commandsApi.listCommands({ instanceUid: hex(a), pageSize: 100 });
          for (const c of commands) if (!SETTLED.has(c.state)) left.push(`${hex(a)} ${c.kind} ${CommandState[c.state]}`);
        }
        return left;
      };
      await eventually(async () => (await unsettled()).length === 0, 30_000, "every command record to settle").catch(async (err) => {
        throw new Error(`${String(err)}; still unsettled: ${(await unsettled()).join(", ")}`);
      });

      expect(fleet.map((a) => a.newUidsOffered).reduce((x, y) => x + y)).toBe(0);
      const { agents } = await agentsApi.listAgents({ pageSize: 1000 });
      expect(agents.map((a) => instanceUidToHex(a.metadata!.instanceUid)).sort()).toEqual(fleet.map(hex).sort());
      for (const a of fleet) {
        const { agent } = await agentsApi.getAgent({ instanceUid: hex(a) });
        expect(agent!.status!.connected).toBe(true);
        expect(Buffer.from(agent!.spec!.remoteConfig!.data!.hash).equals(Buffer.from(a.applied))).toBe(true);
      }
      const metrics = await eventually(async () => {
        const text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
        return /^fleetplane_commands_pending 0$/m.test(text) ? text : undefined;
      }, 10_000, "fleetplane_commands_pending to return to 0");
      expect(metrics).toMatch(/^fleetplane_commands_pending 0$/m);
    } finally {
      for (const a of fleet) {
        a.stop();
        await a.ws?.close();
      }
    }
  });
});
