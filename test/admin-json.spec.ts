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
});
