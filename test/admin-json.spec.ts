import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WsAgent } from "./support/simulated-agent.js";
import { eventually, startTestServer } from "./support/standalone-server.js";

let t: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.server.close();
});

async function postJson(method: string, body: object): Promise<Record<string, unknown>> {
  const res = await fetch(`${t.apiUrl}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe("JSON answers of the admin API (curl users)", () => {
  it("show zero values too: a fleet summary bucket of agents without service.name still names its (empty) name and state", async () => {
    // An agent that describes nothing: its type bucket has an empty name,
    // its remote config state is UNSET — both zero values proto3 JSON omits.
    const agent = await WsAgent.connect(t.wsUrl);
    agent.send({ agentDescription: { identifyingAttributes: [], nonIdentifyingAttributes: [] } as never });
    await eventually(() => agent.received[0], 10_000, "first reply");
    const { summary } = (await postJson("fleetplane.agent.v1.AgentService/GetFleetSummary", {})) as { summary: Record<string, unknown> };
    expect(summary.agentTypes).toEqual([{ name: "", version: "", count: "1" }]);
    expect(summary.remoteConfigStates).toEqual([{ state: "REMOTE_CONFIG_STATE_UNSET", count: "1" }]);
    expect(summary.withRemoteConfig).toBe("0");
    await agent.close();
  });

  it("show an agent's instance UID and config hash as hex too, the form requests take and CommandService shows: an ID copied from one answer works in the next request", async () => {
    const agent = await WsAgent.connect(t.wsUrl);
    agent.send({});
    await eventually(() => agent.received[0], 10_000, "first reply");
    const hex = Buffer.from(agent.uid).toString("hex");

    // Found through a list, as a curl user would, and the UID taken from the answer.
    const { agents } = (await postJson("fleetplane.agent.v1.AgentService/ListAgents", { pageSize: 100 })) as { agents: Array<{ metadata: Record<string, string> }> };
    const listed = agents.find((a) => a.metadata.instanceUidHex === hex);
    expect(listed).toBeDefined();
    expect(listed!.metadata.instanceUid).toBe(Buffer.from(agent.uid).toString("base64")); // the bytes field, as proto3 JSON has it
    const uid = listed!.metadata.instanceUidHex!;

    const set = (await postJson("fleetplane.agent.v1.AgentService/SetRemoteConfig", { instanceUid: uid, files: { "": { text: "a: 1\n" } } })) as {
      agent: { metadata: Record<string, string>; spec: { remoteConfig: { data: Record<string, string> } }; commands: Array<Record<string, string>> };
      commandId: string;
    };
    expect(set.agent.metadata.instanceUidHex).toBe(uid);
    const hashHex = set.agent.spec.remoteConfig.data.hashHex!;
    expect(hashHex).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(set.agent.spec.remoteConfig.data.hash!, "base64").toString("hex")).toBe(hashHex);
    expect(set.agent.commands.find((c) => c.id === set.commandId)?.configHashHex).toBe(hashHex);

    const got = (await postJson("fleetplane.agent.v1.AgentService/GetAgent", { instanceUid: uid })) as { agent: { metadata: Record<string, string> } };
    expect(got.agent.metadata.instanceUidHex).toBe(uid);
    // The audit trail names the agent and the config with the very same strings.
    const { commands } = (await postJson("fleetplane.command.v1.CommandService/ListCommands", { instanceUid: uid })) as { commands: Array<Record<string, string>> };
    const record = commands.find((c) => c.id === set.commandId);
    expect(record?.instanceUid).toBe(uid);
    expect(record?.configHash).toBe(hashHex);
    const { connections } = (await postJson("fleetplane.agent.v1.ConnectionService/ListConnections", { pageSize: 100 })) as { connections: Array<Record<string, string>> };
    expect(connections.some((c) => c.instanceUidHex === uid)).toBe(true);
    await agent.close();
  });
});
