import { ConnectionType, type Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { describe, expect, it } from "vitest";
import type { AgentConnection } from "./agent-connection.js";
import { AgentLiveness } from "./agent-liveness.js";
import { ConnectionTracker } from "./connection-tracker.js";

function tracker() {
  const writes: Array<{ id: string; instanceUid: number[] } | { deleted: string }> = [];
  const remote = {
    saveConnection: async ({ connection }: { connection: Connection }) => void writes.push({ id: connection.id, instanceUid: [...connection.instanceUid] }),
    deleteConnection: async ({ id }: { id: string }) => void writes.push({ deleted: id }),
  };
  return { writes, connections: new ConnectionTracker("gw", remote as never) };
}

function socket(id: string): AgentConnection {
  return { id, type: ConnectionType.WEBSOCKET, remoteAddress: "127.0.0.1:1", openedAt: Date.now(), endpoint: "ws://x/v1/opamp", credentials: { credential: "", enrollmentCredential: "", certificateUid: "" }, agent: "", liveness: new AgentLiveness(Date.now()), push: async () => {}, close: () => {}, settled: async () => {} };
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met within 5 s");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("ConnectionTracker", () => {
  it("writes a new connection once when its first message names it before the anonymous save is due", async () => {
    const { writes, connections } = tracker();
    const record = connections.open(socket("c1"));
    connections.saveSoon(record, 20, () => {});
    record.instanceUid = new Uint8Array(16).fill(1);
    await connections.save(record);
    await new Promise((r) => setTimeout(r, 60)); // longer than the delay: a second write would show
    expect(writes).toEqual([{ id: "c1", instanceUid: Array(16).fill(1) }]);
  });

  it("still saves a connection that stays silent, anonymous, once the delay is over", async () => {
    const { writes, connections } = tracker();
    connections.saveSoon(connections.open(socket("c2")), 20, () => {});
    expect(writes).toEqual([]);
    await until(() => writes.length === 1);
    expect(writes).toEqual([{ id: "c2", instanceUid: [] }]);
  });

  it("does not write a put-off save after the connection was deleted, nor the delete of a connection never written", async () => {
    const { writes, connections } = tracker();
    connections.saveSoon(connections.open(socket("c3")), 20, () => {});
    await connections.delete("c3");
    await new Promise((r) => setTimeout(r, 60)); // longer than the delay: a late save would show
    expect(writes).toEqual([]);
    expect(connections.get("c3")).toBeUndefined();
  });

  it("writes nothing for a refused session's socket: no anonymous save, no delete; a later admitted message saves it, and its delete is written", async () => {
    const { writes, connections } = tracker();
    const refused = connections.open(socket("c4"));
    connections.saveSoon(refused, 20, () => {});
    connections.forgoAnonymousSave("c4");
    await new Promise((r) => setTimeout(r, 60));
    await connections.delete("c4");
    expect(writes).toEqual([]);

    const retried = connections.open(socket("c5"));
    connections.saveSoon(retried, 20, () => {});
    connections.forgoAnonymousSave("c5");
    retried.instanceUid = new Uint8Array(16).fill(5);
    await connections.save(retried);
    await connections.delete("c5");
    expect(writes).toEqual([{ id: "c5", instanceUid: Array(16).fill(5) }, { deleted: "c5" }]);
  });

  it("deletes in the store a connection whose put-off save was written", async () => {
    const { writes, connections } = tracker();
    connections.saveSoon(connections.open(socket("c6")), 10, () => {});
    await until(() => writes.length === 1);
    await connections.delete("c6");
    expect(writes).toEqual([{ id: "c6", instanceUid: [] }, { deleted: "c6" }]);
  });

  it("writes a connection once when its first message's report carries the save, in the connection's write order", async () => {
    const { writes, connections } = tracker();
    const record = connections.open(socket("c7"));
    connections.saveSoon(record, 20, () => {});
    record.instanceUid = new Uint8Array(16).fill(7);
    const carried = await connections.saveWith(record, async () => {
      writes.push({ id: "c7 (carried by the report)", instanceUid: [...record.instanceUid] });
      return { connectionSaved: true };
    });
    expect(carried.connectionSaved).toBe(true);
    await new Promise((r) => setTimeout(r, 60)); // longer than the delay: the anonymous save would show
    await connections.delete("c7");
    expect(writes).toEqual([{ id: "c7 (carried by the report)", instanceUid: Array(16).fill(7) }, { deleted: "c7" }]);
  });

  it("saves the connection itself when the call that was to carry the save did not (an agent-service from before it could)", async () => {
    const { writes, connections } = tracker();
    const record = connections.open(socket("c8"));
    record.instanceUid = new Uint8Array(16).fill(8);
    await connections.saveWith(record, async () => ({ connectionSaved: false }));
    expect(writes).toEqual([{ id: "c8", instanceUid: Array(16).fill(8) }]);
  });

  it("runs a carried save after a write of the same connection still in flight", async () => {
    const order: string[] = [];
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const remote = { saveConnection: async () => void (await slow, order.push("anonymous save")), deleteConnection: async () => {} };
    const ordered = new ConnectionTracker("gw", remote as never);
    const record = ordered.open(socket("c9"));
    const anonymous = ordered.save(record);
    const carried = ordered.saveWith(record, async () => (order.push("report"), { connectionSaved: true }));
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]);
    release();
    await Promise.all([anonymous, carried]);
    expect(order).toEqual(["anonymous save", "report"]);
  });
});
