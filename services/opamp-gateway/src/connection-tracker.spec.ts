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

  it("does not write a put-off save after the connection was deleted", async () => {
    const { writes, connections } = tracker();
    connections.saveSoon(connections.open(socket("c3")), 20, () => {});
    await connections.delete("c3");
    await new Promise((r) => setTimeout(r, 60)); // longer than the delay: a late save would show
    expect(writes).toEqual([{ deleted: "c3" }]);
  });
});
