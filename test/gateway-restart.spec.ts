import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";
import { startDistributed, type Distributed } from "./support/distributed.js";
import { eventually } from "./support/eventually.js";
import { WsAgent, description } from "./support/simulated-agent.js";

// Long, so that what the test sees is the restart being noticed, not the lease running out.
const LEASE_SECONDS = 60;
let d: Distributed;
beforeAll(async () => {
  d = await startDistributed({ leaseSeconds: LEASE_SECONDS });
}, 180_000);
afterAll(async () => {
  await d?.close();
}, 60_000);

/** A WebSocket agent on gateway `i` that has said hello and been answered. */
const agentOn = (i: number, uid = uuidv7Bytes(), seq = 0n) => WsAgent.hello(d.wsUrlOf(i), uid, { agentDescription: description(`gw${i}`) }, { seq });

const connectedCount = async () => Number((await d.agents.getFleetSummary({})).summary?.connected ?? -1n);

describe("a gateway killed -9 and restarted under the same --gateway-id", () => {
  it("has its earlier process's agents shown disconnected as soon as it is back (not when the lease would run out), and connected again as they return", async () => {
    const agents = await Promise.all([0, 1, 2].map(() => agentOn(1)));
    await eventually(async () => (await connectedCount()) === 3, 10_000, "3 agents connected");

    await d.gateways[1]!.stop("SIGKILL");
    for (const a of agents) await a.close().catch(() => undefined);
    const restartedAt = Date.now();
    await d.gateways[1]!.start();
    // The new process's first lease renewal carries its new epoch.
    await eventually(async () => (await connectedCount()) === 0, 20_000, "the dead process's agents shown disconnected");
    expect(Date.now() - restartedAt).toBeLessThan((LEASE_SECONDS / 2) * 1000);
    for (const a of agents) expect((await d.agents.getAgent({ instanceUid: instanceUidToHex(a.uid) })).agent?.status?.connected).toBe(false);
    await eventually(async () => (await d.connections.listConnections({ gatewayId: "gw-b", pageSize: 100 })).connections.length === 0, 10_000, "its connections deleted");

    // They come back to the restarted gateway, carrying on their sequence numbers.
    const back = await Promise.all(agents.map((a) => agentOn(1, a.uid, a.seq)));
    await eventually(async () => (await connectedCount()) === 3, 10_000, "3 agents connected again");
    for (const a of back) {
      const { agent } = await d.agents.getAgent({ instanceUid: instanceUidToHex(a.uid) });
      expect(agent?.status?.connected).toBe(true);
      expect(agent?.status?.gatewayId).toBe("gw-b");
      // Taken back under their own UIDs, not refused as duplicates of the dead connections.
      expect(a.received.some((m) => m.agentIdentification)).toBe(false);
    }
    await Promise.all(back.map((a) => a.close()));
  });
});
