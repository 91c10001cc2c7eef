import { create } from "@bufbuild/protobuf";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConnectionSchema, ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { openEmbeddedStore, type EmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { instanceUidToHex, silentLogger, uuidv7Bytes } from "@fleetplane/platform";
import {
  createLmdbAgentRepository,
  createLmdbConnectionRepository,
  createLmdbGatewayLeaseRepository,
} from "../adapters/lmdb-agent-repository.js";
import { AgentReports } from "../agents/agent-reports.js";
import { AgentStore } from "../agents/agent-store.js";
import { GatewayLeases } from "./gateway-leases.js";

let store: EmbeddedStore | undefined;
afterEach(async () => {
  await store?.close();
});

function setup(o: { reaperReleases?: Promise<void> } = {}) {
  store = openEmbeddedStore(mkdtempSync(join(tmpdir(), "fleetplane-leases-")));
  let clock = 1_000_000;
  const now = () => clock;
  const connections = createLmdbConnectionRepository(store);
  const agents = new AgentStore({
    agents: createLmdbAgentRepository(store),
    audit: { record: async () => {}, transition: async () => {}, recordChange: async () => {}, recent: async () => ({ records: [], complete: true }) },
    logger: silentLogger(),
    now,
  });
  const reports = new AgentReports({ store: agents, logger: silentLogger(), now });
  const repository = createLmdbGatewayLeaseRepository(store);
  // A reaper held back between disconnecting the agents and releasing the lease, when the test says so.
  const releaseReaped: typeof repository.releaseReaped = async (...args) => {
    await o.reaperReleases;
    return repository.releaseReaped(...args);
  };
  const leases = new GatewayLeases({ leases: { ...repository, releaseReaped }, agents, reports, connections, logger: silentLogger(), now });
  const connect = async (gatewayId: string, uid = uuidv7Bytes(), sequenceNum = 0n, gatewayEpoch = "") => {
    const connection = create(ConnectionSchema, { id: `${gatewayId}/${instanceUidToHex(uid)}/${clock}/${gatewayEpoch}`, type: ConnectionType.WEBSOCKET, gatewayId, gatewayEpoch, instanceUid: uid });
    await connections.save(connection);
    await reports.reportMessage(connection, create(AgentToServerSchema, { instanceUid: uid, sequenceNum }));
    return { uid: instanceUidToHex(uid), bytes: uid, connection };
  };
  const connected = async (uid: string) => (await agents.getAgent(uid)).status?.connected;
  return { agents, leases, connections, connect, connected, advance: (ms: number) => (clock += ms) };
}

describe("gateway leases", () => {
  it("a gateway restarted under the same id (a new epoch): its earlier process's agents are marked disconnected and its connections deleted at its first renewal, long before the lease runs out", async () => {
    const t = setup();
    await t.leases.renew("gw", 60, "epoch-1");
    const a = await t.connect("gw", undefined, 0n, "epoch-1");
    const b = await t.connect("gw", undefined, 0n, "epoch-1");
    const other = await t.connect("gw-other", undefined, 0n, "x");
    // Killed -9 and started again 1 s later: b comes back to the new process before its first renewal lands.
    t.advance(1_000);
    const bAgain = await t.connect("gw", b.bytes, 1n, "epoch-2");
    await t.leases.renew("gw", 60, "epoch-2");
    await t.leases.settled();
    expect(await t.connected(a.uid)).toBe(false);
    expect(await t.connected(b.uid)).toBe(true);
    expect((await t.agents.getAgent(b.uid)).status?.connectionId).toBe(bAgain.connection.id);
    expect(await t.connected(other.uid)).toBe(true);
    const left = await t.connections.list({ limit: 10 });
    expect(left.map((c) => c.id).sort()).toEqual([bAgain.connection.id, other.connection.id].sort());
    // Renewals of the same epoch reap nothing more; a's return is taken.
    await t.connect("gw", a.bytes, 1n, "epoch-2");
    await t.leases.renew("gw", 60, "epoch-2");
    await t.leases.settled();
    expect(await t.connected(a.uid)).toBe(true);
  });


  it("mark a dead gateway's agents disconnected and delete its connections, and leave live gateways alone", async () => {
    const t = setup();
    await t.leases.renew("gw-dead", 30);
    await t.leases.renew("gw-live", 30);
    const a = await t.connect("gw-dead");
    const b = await t.connect("gw-dead");
    const c = await t.connect("gw-live");

    t.advance(20_000);
    await t.leases.renew("gw-live", 30);
    expect(await t.leases.reapExpired()).toBe(0); // nobody is late yet

    t.advance(15_000); // gw-dead is now 35 s past its last renewal: late, but within half a lease
    expect(await t.leases.reapExpired()).toBe(0);
    t.advance(11_000); // 46 s: silent for more than 1.5 leases
    expect(await t.leases.reapExpired()).toBe(2);
    expect(await t.connected(a.uid)).toBe(false);
    expect(await t.connected(b.uid)).toBe(false);
    expect(await t.connected(c.uid)).toBe(true);
    expect(await t.connections.list({ gatewayId: "gw-dead", limit: 10 })).toHaveLength(0);
    expect(await t.connections.list({ gatewayId: "gw-live", limit: 10 })).toHaveLength(1);
    expect(await t.leases.reapExpired()).toBe(0); // reaped once
    await t.agents.close();
  });

  it("leave an agent that already reconnected to another gateway connected", async () => {
    const t = setup();
    await t.leases.renew("gw-dead", 10);
    await t.leases.renew("gw-live", 60);
    const moved = await t.connect("gw-dead");
    t.advance(1_000);
    await t.connect("gw-live", moved.bytes, 1n); // the agent carries on counting
    t.advance(20_000);
    expect(await t.leases.reapExpired()).toBe(0);
    expect(await t.connected(moved.uid)).toBe(true);
    await t.agents.close();
  });

  it("tell a gateway whose renewal merely came late that its hold is unbroken, and one whose lease ran out that it holds it anew", async () => {
    const t = setup();
    const first = await t.leases.renew("gw", 30, "e1");
    t.advance(44_000); // 44 s late: within half a lease, nothing reaped
    expect(await t.leases.reapExpired()).toBe(0);
    expect(await t.leases.renew("gw", 30, "e1")).toEqual(first);
    const a = await t.connect("gw", undefined, 0n, "e1");
    t.advance(46_000); // silent for more than 1.5 leases: reaped
    expect(await t.leases.reapExpired()).toBe(1);
    expect(await t.connected(a.uid)).toBe(false);
    const again = await t.leases.renew("gw", 30, "e1");
    expect(again.hold).not.toBe(first.hold);
    await t.agents.close();
  });

  it("start a gateway's hold again when it renewed while the reaper was marking its agents disconnected", async () => {
    let release!: () => void;
    const t = setup({ reaperReleases: new Promise<void>((resolve) => (release = resolve)) });
    await t.leases.renew("gw", 10, "e1");
    const a = await t.connect("gw", undefined, 0n, "e1");
    t.advance(16_000);
    const reaping = t.leases.reapExpired();
    await vi.waitFor(async () => expect(await t.connected(a.uid)).toBe(false));
    // The gateway's renewal lands while the reap is under way: it finds the
    // lease run out, so its hold starts anew — and the reap, ending after it,
    // starts it anew once more (agents that answered the gateway meanwhile
    // may have been marked disconnected all the same).
    const during = await t.leases.renew("gw", 10, "e1");
    release();
    expect(await reaping).toBe(1);
    expect(await t.leases.reapExpired()).toBe(0); // the lease was kept
    const after = await t.leases.renew("gw", 10, "e1");
    expect(after.hold).not.toBe(during.hold);
    await t.agents.close();
  });

  it("refuse a missing gateway id or an out-of-range lease", async () => {
    const t = setup();
    await expect(t.leases.renew("", 30)).rejects.toThrow(/gateway_id/);
    await expect(t.leases.renew("gw", 0)).rejects.toThrow(/ttl_seconds/);
    await expect(t.leases.renew("gw", 7200)).rejects.toThrow(/ttl_seconds/);
    await t.agents.close();
  });
});
