import { describe, expect, it } from "vitest";
import type { AgentConnection } from "./agent-connection.js";
import { WebSocketRegistry } from "./websocket-registry.js";

/** The registry keys connections by id and hands them back as they are; nothing else of them matters here. */
const connection = (id: string) => ({ id }) as AgentConnection;

const uid = (n: number) => new Uint8Array(16).fill(n);
const hex = (n: number) => Buffer.from(uid(n)).toString("hex");

describe("the WebSocket registry", () => {
  it("finds a connection by instance UID once its agent named itself", () => {
    const registry = new WebSocketRegistry();
    const a = connection("a");
    registry.register(a);
    expect(registry.size).toBe(1);
    expect(registry.getByInstanceUid(hex(1))).toBeUndefined();
    expect([...registry.identified()]).toEqual([]);

    registry.updateInstanceUid("a", hex(1));
    expect(registry.getByInstanceUid(hex(1))).toBe(a);
    expect([...registry.identified()]).toEqual([{ instanceUid: hex(1), conn: a }]);
  });

  it("moves a connection to the agent's new instance UID", () => {
    const registry = new WebSocketRegistry();
    const a = connection("a");
    registry.register(a);
    registry.updateInstanceUid("a", hex(1));
    registry.updateInstanceUid("a", hex(2));
    expect(registry.getByInstanceUid(hex(1))).toBeUndefined();
    expect(registry.getByInstanceUid(hex(2))).toBe(a);
  });

  it("keeps the newer connection of an agent that reconnected when the older one goes", () => {
    const registry = new WebSocketRegistry();
    const older = connection("older");
    const newer = connection("newer");
    registry.register(older);
    registry.updateInstanceUid("older", hex(1));
    registry.register(newer);
    registry.updateInstanceUid("newer", hex(1));
    expect(registry.getByInstanceUid(hex(1))).toBe(newer);

    registry.unregister("older");
    expect(registry.getByInstanceUid(hex(1))).toBe(newer);
    expect([...registry.identified()]).toEqual([{ instanceUid: hex(1), conn: newer }]);
    expect(registry.size).toBe(1);
  });

  it("forgets a connection entirely when it is unregistered, and ignores unknown ids", () => {
    const registry = new WebSocketRegistry();
    registry.register(connection("a"));
    registry.updateInstanceUid("a", hex(1));
    registry.updateInstanceUid("nobody", hex(2));
    registry.unregister("nobody");
    registry.unregister("a");
    expect(registry.size).toBe(0);
    expect(registry.getByInstanceUid(hex(1))).toBeUndefined();
    expect(registry.getByInstanceUid(hex(2))).toBeUndefined();
    expect([...registry.identified()]).toEqual([]);
  });
});
