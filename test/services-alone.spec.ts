import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { CommandRecorderService } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import { bearer } from "./support/admin-key.js";
import { createAdminKey } from "./support/distributed.js";
import { PackageService } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import { WsAgent, description } from "./support/simulated-agent.js";
import { eventually } from "./support/standalone-server.js";

const main = join(import.meta.dirname, "../services/fleetplane/src/main.ts");
const children: ChildProcess[] = [];

/** Starts `fleetplane <command>` on port 0 (admin and internal) and returns the ports it reports. */
async function start(command: string, args: string[]): Promise<{ port: number; internalPort: number }> {
  const child = spawn(process.execPath, ["--import", "tsx", main, command, "--port", "0", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  let internalPort = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} did not start in time`)), 20_000);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === "internal API listening (service-to-service)") internalPort = entry.port!;
      if (entry.msg === `${command} is running`) {
        clearTimeout(timer);
        resolve({ port: entry.port!, internalPort });
      }
    });
    child.once("exit", (code) => reject(new Error(`${command} exited with ${code}`)));
  });
}

afterAll(async () => {
  await Promise.all(
    children.map((c) => new Promise<void>((resolve) => (c.exitCode !== null ? resolve() : (c.once("exit", () => resolve()), c.kill("SIGTERM"))))),
  );
});

describe("each service started alone", () => {
  it("serves its own API on its own port, and the three work together over Connect", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleetplane-alone-"));
    // Each service keeps its own embedded store here, so each needs the admin key in it.
    const key = await createAdminKey(["--data-dir", join(dir, "agents"), "--name", "alone"]);
    const commandKey = await createAdminKey(["--data-dir", join(dir, "commands"), "--name", "alone"]);
    const command = await start("command-service", ["--data-dir", join(dir, "commands"), "--internal-port", "0"]);
    const commandPort = command.port;
    const agent0 = await start("agent-service", ["--data-dir", join(dir, "agents"), "--internal-port", "0", "--command-service-url", `http://127.0.0.1:${command.internalPort}`]);
    const agentPort = agent0.port;
    const { port: gatewayPort } = await start("gateway", ["--agent-service-url", `http://127.0.0.1:${agent0.internalPort}`, "--gateway-id", "gw-alone"]);

    const agents = createClient(AgentService, createConnectTransport({ baseUrl: `http://127.0.0.1:${agentPort}`, httpVersion: "1.1", interceptors: [bearer(key)] }));
    const commands = createClient(CommandService, createConnectTransport({ baseUrl: `http://127.0.0.1:${commandPort}`, httpVersion: "2", interceptors: [bearer(commandKey)] }));

    const agent = await WsAgent.connect(`ws://127.0.0.1:${gatewayPort}/v1/opamp`);
    agent.send({ agentDescription: description("alone") as never });
    const first = await eventually(() => agent.received[0], 10_000, "reply through the gateway");
    expect(first.errorResponse?.errorMessage).toBeUndefined();
    const { agent: stored } = await agents.getAgent({ instanceUid: instanceUidToHex(agent.uid) });
    expect(stored?.status?.gatewayId).toBe("gw-alone");

    await agents.setRemoteConfig({ instanceUid: instanceUidToHex(agent.uid), files: { "": { content: { case: "text", value: "a: 1" } } }, requestedBy: "alone" });
    // No shared bus between processes yet: the config arrives with the reply to the next message.
    agent.send();
    await eventually(() => agent.received.find((m) => m.remoteConfig), 10_000, "config on next message");
    const audit = await eventually(async () => (await commands.listCommands({ instanceUid: instanceUidToHex(agent.uid) })).commands[0], 10_000, "audit record");
    // The audit names the key that asked, not the (ignored) requested_by of the body.
    expect(audit.requestedBy).toBe("key:alone");

    // The web console lives on agent-service's port; the audit trail it
    // shows is read through agent-service, which asks command-service.
    const page = await fetch(`http://127.0.0.1:${agentPort}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Fleetplane console");
    const viaAgentService = createClient(CommandService, createConnectTransport({ baseUrl: `http://127.0.0.1:${agentPort}`, httpVersion: "1.1", interceptors: [bearer(key)] }));
    expect((await viaAgentService.listCommands({ instanceUid: instanceUidToHex(agent.uid) })).commands.map((c) => c.id)).toEqual([audit.id]);
    const recorderViaAdminPort = createClient(CommandRecorderService, createConnectTransport({ baseUrl: `http://127.0.0.1:${agentPort}`, httpVersion: "1.1", interceptors: [bearer(key)] }));
    await expect(recorderViaAdminPort.recordCommand({})).rejects.toMatchObject({ code: 12 }); // Unimplemented: writes stay command-service's, on its internal listener
    expect((await fetch(`http://127.0.0.1:${commandPort}/`)).status).toBe(404); // command-service serves no console
    // agent-service alone serves the package registry too.
    const packages = createClient(PackageService, createConnectTransport({ baseUrl: `http://127.0.0.1:${agentPort}`, httpVersion: "1.1", interceptors: [bearer(key)] }));
    await packages.registerPackage({ name: "otelcol", version: "1.0.0", downloadUrl: "https://pkgs.example/otelcol-1.0.0.tgz", sha256: new Uint8Array(32) });
    expect((await packages.listPackages({})).packages.map((p) => `${p.name}@${p.version}`)).toEqual(["otelcol@1.0.0"]);
    await agent.close();
  });
});
