import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleetplaneClient, RemoteConfigState } from "@fleetplane/client";
import { instanceUidToHex } from "@fleetplane/platform";
import { eventually } from "./support/eventually.js";
import { WsAgent, description } from "./support/simulated-agent.js";
import { startTestServer } from "./support/standalone-server.js";

let t: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

describe("the typed client package", () => {
  it.each(["connect", "grpc", "grpc-web"] as const)("talks to the admin API over %s", async (protocol) => {
    const fleet = createFleetplaneClient({ baseUrl: t.apiUrl, protocol });
    const agent = await WsAgent.connect(t.wsUrl);
    agent.send({ agentDescription: description(`client-${protocol}`) as never });
    await eventually(() => agent.received[0]);
    const uid = instanceUidToHex(agent.uid);

    const { agents } = await fleet.agents.listAgents({ filter: { attributes: { "service.name": `client-${protocol}` } } });
    expect(agents.map((a) => instanceUidToHex(a.metadata!.instanceUid))).toEqual([uid]);
    const { pushed } = await fleet.agents.setRemoteConfig({ instanceUid: uid, files: { "": { content: { case: "text", value: "x: 1\n" } } }, requestedBy: protocol });
    expect(pushed).toBe(true);
    await eventually(() => agent.received.find((m) => m.remoteConfig));
    expect((await fleet.agents.getAgent({ instanceUid: uid })).agent?.spec?.remoteConfig?.data?.status).toBe(RemoteConfigState.UNSET);
    expect((await fleet.commands.listCommands({ instanceUid: uid })).commands[0]?.requestedBy).toBe(protocol);
    await expect(fleet.agents.getAgent({ instanceUid: "not-a-uid" })).rejects.toMatchObject({ code: 3 });
    await agent.close();
  });
});
