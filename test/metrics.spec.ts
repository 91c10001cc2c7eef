import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";
import { eventually } from "./support/eventually.js";
import { WsAgent, description, httpPoll } from "./support/simulated-agent.js";
import { startTestServer } from "./support/standalone-server.js";

let t: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

/** Reads one sample (name and exact label set) from a Prometheus text page; 0 when absent. */
async function sample(url: string, series: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe("Prometheus metrics", () => {
  it("count agents, messages, bytes, decode errors and pushes, on the admin port and the OpAMP port", async () => {
    const api = `${t.apiUrl}/metrics`;
    const opamp = t.httpUrl.replace("/v1/opamp", "/metrics");
    const before = await sample(api, 'fleetplane_opamp_messages_received_total{transport="ws"}');

    const agent = await WsAgent.connect(t.wsUrl);
    agent.send({ agentDescription: description("metrics") as never });
    await eventually(() => agent.received[0]);
    agent.sendRaw(Buffer.from([0x00, 0xff, 0xff])); // malformed
    await eventually(() => agent.received[1]);
    await httpPoll(t.httpUrl, { instanceUid: uuidv7Bytes(), agentDescription: description("metrics-http") as never });

    expect(await sample(api, 'fleetplane_opamp_messages_received_total{transport="ws"}')).toBe(before + 2);
    expect(await sample(api, 'fleetplane_opamp_messages_received_total{transport="http"}')).toBeGreaterThanOrEqual(1);
    expect(await sample(api, 'fleetplane_opamp_decode_errors_total{transport="ws"}')).toBeGreaterThanOrEqual(1);
    expect(await sample(api, 'fleetplane_opamp_connected_agents{transport="ws"}')).toBe(1);
    expect(await sample(api, 'fleetplane_opamp_message_bytes_total{direction="in",transport="ws"}')).toBeGreaterThan(0);
    expect(await sample(api, "fleetplane_opamp_report_duration_seconds_count")).toBeGreaterThanOrEqual(2);
    expect(await sample(api, "fleetplane_process_resident_memory_bytes")).toBeGreaterThan(0);
    // Store latency, per repository and operation (a new agent is saved).
    expect(await sample(api, 'fleetplane_store_operation_duration_seconds_count{store="embedded",repository="agents",operation="save"}')).toBeGreaterThanOrEqual(2);

    await t.agents.setRemoteConfig({ instanceUid: instanceUidToHex(agent.uid), files: { "": { content: { case: "text", value: "a: 1\n" } } } });
    await eventually(() => agent.received.find((m) => m.remoteConfig));
    expect(await sample(api, 'fleetplane_opamp_messages_sent_total{transport="ws",kind="push"}')).toBe(1);
    expect(await sample(api, "fleetplane_push_duration_seconds_count")).toBe(1);

    // The OpAMP port serves the same registry (a gateway run alone has no admin port), and a probe.
    expect(await sample(opamp, 'fleetplane_opamp_connected_agents{transport="ws"}')).toBe(1);
    expect((await fetch(t.httpUrl.replace("/v1/opamp", "/healthz"))).status).toBe(200);
    await agent.close();
    await eventually(async () => (await sample(api, 'fleetplane_opamp_connected_agents{transport="ws"}')) === 0, 5_000, "gauge back to 0");
  });

  it("count commands waiting for an offline agent until they are delivered", async () => {
    const api = `${t.apiUrl}/metrics`;
    const pending = () => sample(api, "fleetplane_commands_pending");
    const agent = await WsAgent.connect(t.wsUrl);
    agent.send({ agentDescription: description("metrics-offline") as never });
    await eventually(() => agent.received[0]);
    await agent.close();
    const uid = instanceUidToHex(agent.uid);
    await eventually(async () => (await t.agents.getAgent({ instanceUid: uid })).agent?.status?.connected === false, 10_000, "agent offline");
    const before = await pending();

    await t.agents.setRemoteConfig({ instanceUid: uid, files: { "": { content: { case: "text", value: "b: 2\n" } } } });
    // The figure is cached for a second (a scrape storm must not reach the store): poll.
    await eventually(async () => (await pending()) === before + 1, 10_000, "the queued config counted as pending");

    const back = await WsAgent.connect(t.wsUrl, agent.uid);
    back.send({ agentDescription: description("metrics-offline") as never });
    await eventually(() => back.received.find((m) => m.remoteConfig), 10_000, "the config delivered on reconnect");
    await eventually(async () => (await pending()) === before, 10_000, "the delivered config no longer pending");
    await back.close();
  });
});
