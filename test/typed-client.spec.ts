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
    const { secret } = await t.access.createApiKey({ name: `client-${protocol}`, role: "operator" });
    const fleet = createFleetplaneClient({ baseUrl: t.apiUrl, protocol, apiKey: secret });
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
    // The audit names the key the client sent, not the request body's requested_by.
    expect((await fleet.commands.listCommands({ instanceUid: uid })).commands[0]?.requestedBy).toBe(`key:client-${protocol}`);
    await expect(fleet.agents.getAgent({ instanceUid: "not-a-uid" })).rejects.toMatchObject({ code: 3 });
    await agent.close();
  });

  it("without a key is refused with Unauthenticated; an operator's key cannot administer", async () => {
    await expect(createFleetplaneClient({ baseUrl: t.apiUrl }).agents.listAgents({})).rejects.toMatchObject({ code: 16 });
    const { secret } = await t.access.createApiKey({ name: "client-operator", role: "operator" });
    const operator = createFleetplaneClient({ baseUrl: t.apiUrl, apiKey: secret });
    await expect(operator.packages.deletePackage({ name: "x", version: "1" })).rejects.toMatchObject({ code: 7 });
    expect((await operator.access.whoAmI({})).identity).toBe("key:client-operator");
  });
});
