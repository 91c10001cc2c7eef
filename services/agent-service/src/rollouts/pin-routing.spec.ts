import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { AgentSchema, AgentStatusSchema, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentConfigMapSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { silentLogger, type PushNotice } from "@fleetplane/platform";
import { createInProcessPushBus } from "@fleetplane/platform-node";
import type { RolloutPin } from "../agents/config-assignment.js";
import { PinRouting, ROLLOUT_PINS_CHANNEL } from "./pin-routing.js";
import { VersionFileCache } from "./version-files.js";

const UID = "0123456789abcdef0123456789abcdef";
const pin: RolloutPin = { group: "web", configuration: "cfg", version: 2, rollout: "r1", config: create(AgentConfigMapSchema), hash: new Uint8Array([1]) };

/** Two replicas on one bus over one store; `servedBy` says which (if any) serves the agent. */
function replicas(o: { servedBy?: 0 | 1; connected: boolean }) {
  const bus = createInProcessPushBus();
  const stored: Agent = create(AgentSchema, { status: create(AgentStatusSchema, { connected: o.connected, connectionId: "gw/ws/1" }) });
  const pinned: Array<{ replica: number; uid: string; version: number; files: number }> = [];
  const versions = new VersionFileCache({
    getVersion: async (_ns, _cfg, version) => ({ files: { "": { body: new TextEncoder().encode(`v${version}\n`), contentType: "text/plain" } } }) as never,
  });
  const make = (replica: number) =>
    new PinRouting({
      bus,
      serves: () => o.servedBy === replica,
      stored: async () => stored,
      pin: async (uid, _ns, p) => (pinned.push({ replica, uid, version: p.version, files: Object.keys(p.config.configMap).length }), "pinned"),
      versions,
      logger: silentLogger(),
    });
  return { bus, routes: [make(0), make(1)], pinned };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe("rollout pins go to the replica serving the agent", () => {
  it("are written by the leader when it serves the agent", async () => {
    const { routes, pinned } = replicas({ servedBy: 0, connected: true });
    expect(await routes[0]!.pin(UID, "default", pin, "rollout default/r1")).toBe("pinned");
    expect(pinned).toEqual([{ replica: 0, uid: UID, version: 2, files: 0 }]);
  });

  it("are sent to the replica serving a connected agent, which writes them with the version's files it reads itself", async () => {
    const { routes, pinned } = replicas({ servedBy: 1, connected: true });
    await Promise.all(routes.map((r) => r.listen()));
    expect(await routes[0]!.pin(UID, "default", pin, "rollout default/r1")).toBe("sent to its replica");
    await settle();
    expect(pinned).toEqual([{ replica: 1, uid: UID, version: 2, files: 1 }]);
  });

  it("are written by the leader for an agent nobody serves (disconnected)", async () => {
    const { routes, pinned } = replicas({ connected: false });
    await Promise.all(routes.map((r) => r.listen()));
    expect(await routes[0]!.pin(UID, "default", pin, "rollout default/r1")).toBe("pinned");
    await settle();
    expect(pinned.map((p) => p.replica)).toEqual([0]);
  });

  it("are not written by anyone when the store shows the agent connected but no replica serves it yet (the leader asks again)", async () => {
    const { routes, pinned } = replicas({ connected: true });
    await Promise.all(routes.map((r) => r.listen()));
    expect(await routes[0]!.pin(UID, "default", pin, "rollout default/r1")).toBe("sent to its replica");
    await settle();
    expect(pinned).toEqual([]);
  });

  it("ignore a malformed request", async () => {
    const { bus, routes, pinned } = replicas({ servedBy: 1, connected: true });
    await routes[1]!.listen();
    const bad: PushNotice = { instanceUid: UID, connectionId: "gw/ws/1", request: JSON.stringify({ namespace: "default", version: "two" }) };
    await bus.publish(ROLLOUT_PINS_CHANNEL, bad);
    await settle();
    expect(pinned).toEqual([]);
  });
});
