// Retention (issue 15 item 2) on a real standalone process started with
// --agent-retention 2s: an agent disconnected longer than that leaves the
// store (audited, its open records settled), a connected one stays, and the
// stored-agents gauge and the removals counter follow.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService, CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import { ServerProcess, standaloneCommand } from "@fleetplane/chaos";
import { bearer } from "./support/admin-key.js";
import { eventually } from "./support/eventually.js";
import { WsAgent, description } from "./support/simulated-agent.js";

let server: ServerProcess;
beforeAll(async () => {
  server = await ServerProcess.start(standaloneCommand(mkdtempSync(join(tmpdir(), "fleetplane-retention-")), {}, ["--agent-retention", "2s"]));
});
afterAll(async () => {
  await server?.stop();
});

/** One sample of the server's /metrics; undefined when absent. */
async function sample(series: string): Promise<number | undefined> {
  const text = await (await fetch(`${server.apiUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.slice(series.length + 1)) : undefined;
}

async function gone(agents: ReturnType<typeof createClient<typeof AgentService>>, uid: string): Promise<boolean> {
  try {
    await agents.getAgent({ instanceUid: uid });
    return false;
  } catch (err) {
    if (ConnectError.from(err).code === Code.NotFound) return true;
    throw err;
  }
}

describe("agent retention on a standalone server", () => {
  it("removes an agent disconnected longer than --agent-retention, keeps a connected one, and the metrics move", async () => {
    const transport = createConnectTransport({ baseUrl: server.apiUrl, httpVersion: "1.1", interceptors: [bearer(server.adminKey!)] });
    const agents = createClient(AgentService, transport);
    const commands = createClient(CommandService, transport);

    const stays = await WsAgent.connect(server.opampWsUrl);
    stays.send({ agentDescription: description("retention-stays") as never });
    const leaves = await WsAgent.connect(server.opampWsUrl);
    leaves.send({ agentDescription: description("retention-leaves") as never });
    await eventually(() => stays.received[0] && leaves.received[0], 10_000, "both agents answered");
    const [staysUid, leavesUid] = [instanceUidToHex(stays.uid), instanceUidToHex(leaves.uid)];
    // A config delivered and never confirmed: its record is open until the agent is removed.
    const { commandId } = await agents.setRemoteConfig({ instanceUid: leavesUid, files: { "": { content: { case: "text", value: "a: 1\n" } } } });
    await eventually(() => leaves.received.find((m) => m.remoteConfig), 10_000, "the config delivered");

    // The gauge is read from the store at most every few seconds: poll.
    await eventually(async () => (await sample("fleetplane_agents_stored")) === 2, 15_000, "two agents stored");
    expect(await sample('fleetplane_agents_removed_total{reason="retention"}')).toBe(0);

    await leaves.close();
    await eventually(() => gone(agents, leavesUid), 20_000, "the disconnected agent removed");
    await eventually(async () => (await sample('fleetplane_agents_removed_total{reason="retention"}')) === 1, 10_000, "the removal counted");
    await eventually(async () => (await sample("fleetplane_agents_stored")) === 1, 15_000, "one agent stored");

    const records = (await commands.listCommands({ instanceUid: leavesUid })).commands;
    expect(records.find((r) => r.kind === "agent_deleted")).toMatchObject({ requestedBy: "retention", state: CommandState.APPLIED });
    await eventually(
      async () => (await commands.listCommands({ instanceUid: leavesUid })).commands.find((r) => r.id === commandId)?.state === CommandState.SUPERSEDED,
      10_000,
      "the open config record superseded",
    );

    // Connected all along, several retentions later: still there.
    expect((await agents.getAgent({ instanceUid: staysUid })).agent?.status?.connected).toBe(true);
    expect(await sample('fleetplane_agents_removed_total{reason="retention"}')).toBe(1);
    expect(server.problem()).toBeUndefined();
    await stays.close();
  }, 90_000);
});
