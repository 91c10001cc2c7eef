import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { AgentSchema, AgentStatusSchema, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentConfigMapSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { silentLogger, type PushNotice } from "@fleetplane/platform";
import { createInProcessPushBus } from "@fleetplane/platform-node";
import type { RolloutPin } from "../agents/config-assignment.js";
import { PinRouting, ROLLOUT_PIN_BATCHES_CHANNEL, ROLLOUT_PINS_CHANNEL } from "./pin-routing.js";
import { VersionFileCache } from "./version-files.js";

const UID = "0123456789abcdef0123456789abcdef";
const pin: RolloutPin = { group: "web", configuration: "cfg", version: 2, rollout: "r1", config: create(AgentConfigMapSchema), hash: new Uint8Array([1]) };

/** An agent of the shared store: connected or not, and served by replica 0, 1 or none. */
interface Placed {
  connected: boolean;
  servedBy?: 0 | 1;
}

/**
 * Two replicas on one bus over one store. Each pin is recorded with the
 * replica that wrote it and whether it came in a batch or alone; `reads`
 * counts the store reads of agents not served here.
 */
function replicas(placed: Record<string, Placed>) {
  const bus = createInProcessPushBus();
  const stored = new Map(
    Object.entries(placed).map(([uid, p]) => [uid, create(AgentSchema, { metadata: { instanceUid: Buffer.from(uid, "hex") }, status: create(AgentStatusSchema, { connected: p.connected, connectionId: "gw/ws/1" }) })] as const),
  );
  const pinned: Array<{ replica: number; uid: string; version: number; files: number; batch: boolean }> = [];
  const reads: string[][] = [];
  const versions = new VersionFileCache({
    getVersion: async (_ns, _cfg, version) => ({ files: { "": { body: new TextEncoder().encode(`v${version}\n`), contentType: "text/plain" } } }) as never,
  });
  const make = (replica: number) =>
    new PinRouting({
      bus,
      serves: (uid) => placed[uid]?.servedBy === replica,
      storedMany: async (uids) => (reads.push([...uids]), uids.flatMap((u): Agent[] => (stored.has(u) ? [stored.get(u)!] : []))),
      pin: async (uid, _ns, p) => (pinned.push({ replica, uid, version: p.version, files: Object.keys(p.config.configMap).length, batch: false }), "pinned"),
      pinMany: async (uids, _ns, p) => {
        for (const uid of uids) pinned.push({ replica, uid, version: p.version, files: Object.keys(p.config.configMap).length, batch: true });
        return new Map(uids.map((uid) => [uid, "pinned"]));
      },
      versions,
      logger: silentLogger(),
    });
  return { bus, routes: [make(0), make(1)], pinned, reads };
}

const uid = (n: number) => n.toString(16).padStart(32, "0");
const settle = () => new Promise((r) => setTimeout(r, 10));
const pinMany = (r: PinRouting, uids: string[], repeat = false) => r.pinMany(uids, "default", pin, "rollout default/r1", { repeat });

describe("rollout pins go to the replica serving the agent", () => {
  it("are written by the leader, in one batch, for the agents it serves", async () => {
    const { routes, pinned, reads } = replicas({ [uid(1)]: { connected: true, servedBy: 0 }, [uid(2)]: { connected: true, servedBy: 0 } });
    expect(await pinMany(routes[0]!, [uid(1), uid(2)])).toEqual(new Map([[uid(1), "pinned"], [uid(2), "pinned"]]));
    expect(pinned).toEqual([uid(1), uid(2)].map((u) => ({ replica: 0, uid: u, version: 2, files: 0, batch: true })));
    // Nothing to read: this replica holds its agents.
    expect(reads).toEqual([]);
  });

  it("are sent in one request to the replica serving connected agents, which writes them in one batch with the version's files it reads itself", async () => {
    const { bus, routes, pinned, reads } = replicas({ [uid(1)]: { connected: true, servedBy: 1 }, [uid(2)]: { connected: true, servedBy: 1 }, [uid(3)]: { connected: true, servedBy: 0 } });
    await Promise.all(routes.map((r) => r.listen()));
    const requests: PushNotice[] = [];
    await bus.subscribe(ROLLOUT_PIN_BATCHES_CHANNEL, (n) => void requests.push(n));
    const outcomes = await pinMany(routes[0]!, [uid(1), uid(2), uid(3)]);
    expect(outcomes).toEqual(new Map([[uid(1), "sent to its replica"], [uid(2), "sent to its replica"], [uid(3), "pinned"]]));
    await settle();
    expect(requests).toHaveLength(1);
    // One read of the agents the leader does not serve.
    expect(reads).toEqual([[uid(1), uid(2)]]);
    expect(pinned).toEqual([
      { replica: 0, uid: uid(3), version: 2, files: 0, batch: true },
      { replica: 1, uid: uid(1), version: 2, files: 1, batch: true },
      { replica: 1, uid: uid(2), version: 2, files: 1, batch: true },
    ]);
  });

  it("are written by the leader for agents nobody serves (disconnected), and answer gone for agents not stored", async () => {
    const { routes, pinned } = replicas({ [uid(1)]: { connected: false } });
    await Promise.all(routes.map((r) => r.listen()));
    expect(await pinMany(routes[0]!, [uid(1), uid(9)])).toEqual(new Map([[uid(9), "gone"], [uid(1), "pinned"]]));
    await settle();
    expect(pinned.map((p) => [p.replica, p.uid])).toEqual([[0, uid(1)]]);
  });

  it("are not written by anyone when the store shows an agent connected but no replica serves it yet (the leader asks again)", async () => {
    const { routes, pinned } = replicas({ [uid(1)]: { connected: true } });
    await Promise.all(routes.map((r) => r.listen()));
    expect(await pinMany(routes[0]!, [uid(1)])).toEqual(new Map([[uid(1), "sent to its replica"]]));
    await settle();
    expect(pinned).toEqual([]);
  });

  it("repeated, go one request per agent on the channel every version takes: a replica of an older version that missed the batch writes them", async () => {
    const { bus, routes, pinned } = replicas({ [uid(1)]: { connected: true, servedBy: 1 } });
    // The leader is of the new version; replica 1 of an older one: it takes per-agent requests only.
    await routes[0]!.listen();
    const older = routes[1]!;
    await bus.subscribe(ROLLOUT_PINS_CHANNEL, (n) => void (older as unknown as { received(n: PushNotice): Promise<void> }).received(n));
    expect(await pinMany(routes[0]!, [uid(1)])).toEqual(new Map([[uid(1), "sent to its replica"]]));
    await settle();
    expect(pinned).toEqual([]);
    expect(await pinMany(routes[0]!, [uid(1)], true)).toEqual(new Map([[uid(1), "sent to its replica"]]));
    await settle();
    expect(pinned).toEqual([{ replica: 1, uid: uid(1), version: 2, files: 1, batch: false }]);
  });

  it("ignore a malformed request, alone or in a batch", async () => {
    const { bus, routes, pinned } = replicas({ [UID]: { connected: true, servedBy: 1 } });
    await routes[1]!.listen();
    const bad: PushNotice = { instanceUid: UID, connectionId: "gw/ws/1", request: JSON.stringify({ namespace: "default", version: "two" }) };
    await bus.publish(ROLLOUT_PINS_CHANNEL, bad);
    const request = { namespace: "default", group: "web", configuration: "cfg", version: 2, rollout: "r1", requestedBy: "rollout default/r1" };
    await bus.publish(ROLLOUT_PIN_BATCHES_CHANNEL, { instanceUid: "", connectionId: "", request: JSON.stringify({ ...request, agents: [UID, 7] }) });
    await bus.publish(ROLLOUT_PIN_BATCHES_CHANNEL, { instanceUid: "", connectionId: "", request: JSON.stringify(request) });
    await settle();
    expect(pinned).toEqual([]);
  });
});
