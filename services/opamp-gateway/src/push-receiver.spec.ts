import type { Client } from "@connectrpc/connect";
import { ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import type { PullServerToAgentRequest } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import type { ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { SERVER_CAPABILITIES, serverToAgent } from "@fleetplane/opamp";
import { instanceUidToHex, silentLogger, type PushNotice } from "@fleetplane/platform";
import { describe, expect, it } from "vitest";
import { AgentConnectionClosedError, type AgentConnection } from "./agent-connection.js";
import { NO_CREDENTIALS } from "./agent-authentication.js";
import { AgentLiveness } from "./agent-liveness.js";
import { createPushReceiver, reconcileAll } from "./push-receiver.js";
import { WebSocketRegistry } from "./websocket-registry.js";

const uid = (n: number) => new Uint8Array(16).fill(n);
const hex = (n: number) => Buffer.from(uid(n)).toString("hex");

/** A WebSocket connection that records what is pushed to it. */
function connection(id: string, push: (m: ServerToAgent) => Promise<void> = async () => undefined) {
  const pushed: ServerToAgent[] = [];
  const conn: AgentConnection = {
    id,
    type: ConnectionType.WEBSOCKET,
    remoteAddress: "127.0.0.1:1",
    openedAt: 0,
    credentials: NO_CREDENTIALS,
    endpoint: "ws://gw/v1/opamp",
    agent: "",
    liveness: new AgentLiveness(0),
    push: (m) => (pushed.push(m), push(m)),
    close: () => undefined,
    settled: () => Promise.resolve(),
  };
  return { conn, pushed };
}

/**
 * A fake agent-service's client that answers PullServerToAgents (what the
 * receiver calls, pull-batcher.ts) with `one`'s answer to each pull; an
 * answer without `more` keeps the gateway pulling, as an unset `more` does.
 */
function batched(one: (req: PullServerToAgentRequest) => Promise<{ message?: ServerToAgent; more?: boolean }>): Client<typeof AgentGatewayService> {
  return {
    pullServerToAgent: one,
    pullServerToAgents: async (req: { pulls: PullServerToAgentRequest[] }) => ({
      results: await Promise.all(req.pulls.map(async (p) => {
        const r = await one(p);
        return { message: r.message, more: r.more ?? true, errorCode: 0, errorMessage: "" };
      })),
    }),
  } as unknown as Client<typeof AgentGatewayService>;
}

/** agent-service answering pulls from a queue of pending messages per agent. */
function agentService(pending: Map<string, ServerToAgent[]>) {
  const pulls: PullServerToAgentRequest[] = [];
  const client = batched(async (req) => {
    pulls.push(req);
    return { message: pending.get(req.instanceUid)?.shift() };
  });
  return { client, pulls };
}

function registryWith(...conns: Array<{ conn: AgentConnection; uid: Uint8Array }>): WebSocketRegistry {
  const registry = new WebSocketRegistry();
  for (const { conn, uid } of conns) {
    registry.register(conn);
    registry.updateInstanceUid(conn.id, instanceUidToHex(uid));
  }
  return registry;
}

const message = (n: number, flags: bigint) => serverToAgent(uid(n), SERVER_CAPABILITIES, { flags });

describe("the push receiver", () => {
  it("closes the agent's WebSocket on a close notice (a deleted agent) and pulls nothing", async () => {
    const a = connection("gw/ws/a");
    const closed: number[] = [];
    a.conn.close = (code) => void closed.push(code);
    const { client, pulls } = agentService(new Map([[hex(1), [message(1, 1n)]]]));
    const onPush = createPushReceiver({ agents: client, registry: registryWith({ conn: a.conn, uid: uid(1) }), logger: silentLogger() });
    await onPush({ instanceUid: hex(1), connectionId: "gw/ws/other", close: true });
    expect(closed).toEqual([]); // not the connection the notice names
    await onPush({ instanceUid: hex(1), connectionId: "gw/ws/a", close: true });
    expect(closed).toEqual([1008]);
    expect(pulls).toHaveLength(0);
  });

  it("pulls what agent-service has for the agent and sends it on the agent's WebSocket", async () => {
    const a = connection("gw/ws/a");
    const { client, pulls } = agentService(new Map([[hex(1), [message(1, 1n), message(1, 2n)]]]));
    const onPush = createPushReceiver({ agents: client, registry: registryWith({ conn: a.conn, uid: uid(1) }), logger: silentLogger() });
    await onPush({ instanceUid: hex(1), connectionId: "gw/ws/a" });
    expect(a.pushed.map((m) => m.flags)).toEqual([1n, 2n]);
    // The third pull found nothing and ended the round.
    expect(pulls).toHaveLength(3);
    expect(pulls[0]).toMatchObject({ instanceUid: hex(1), connectionId: "gw/ws/a" });
  });

  it("stops pulling when agent-service says nothing more is waiting, and pulls on while it says more is", async () => {
    const a = connection("gw/ws/a");
    const queue = [message(1, 1n), message(1, 2n), message(1, 3n)];
    const pulls: PullServerToAgentRequest[] = [];
    const client = batched(async (req) => {
      pulls.push(req);
      const m = queue.shift();
      // The second message is the last one agent-service has ready (the third comes later).
      return { message: m, more: m?.flags === 1n };
    });
    const onPush = createPushReceiver({ agents: client, registry: registryWith({ conn: a.conn, uid: uid(1) }), logger: silentLogger() });
    await onPush({ instanceUid: hex(1), connectionId: "gw/ws/a", revision: "7" });
    expect(a.pushed.map((m) => m.flags)).toEqual([1n, 2n]);
    expect(pulls).toHaveLength(2); // no third call to learn that nothing is left
    // The notice's revision rides on the first pull (agent-service may answer it from its cached copy), not on the next.
    expect(pulls.map((p) => p.revision)).toEqual([7n, 0n]);
  });

  it("tells the gateway of a notice for a connection it holds before pulling (heartbeats then go to agent-service), and of no other", async () => {
    const a = connection("gw/ws/a");
    const order: string[] = [];
    const { client } = agentService(new Map());
    const pulling = batched(async (req) => (order.push("pull"), client.pullServerToAgent(req)));
    const onPush = createPushReceiver({ agents: pulling, registry: registryWith({ conn: a.conn, uid: uid(1) }), logger: silentLogger(), noticed: (c) => order.push(`noticed ${c.id}`) });
    await onPush({ instanceUid: hex(1), connectionId: "gw/ws/a" });
    await onPush({ instanceUid: hex(1), connectionId: "gw/ws/old" });
    expect(order).toEqual(["noticed gw/ws/a", "pull"]);
  });

  it("pulls at most four messages per notice", async () => {
    const a = connection("gw/ws/a");
    const many = Array.from({ length: 6 }, (_, i) => message(1, BigInt(i)));
    const { client, pulls } = agentService(new Map([[hex(1), many]]));
    const onPush = createPushReceiver({ agents: client, registry: registryWith({ conn: a.conn, uid: uid(1) }), logger: silentLogger() });
    await onPush({ instanceUid: hex(1), connectionId: "gw/ws/a" });
    expect(a.pushed).toHaveLength(4);
    expect(pulls).toHaveLength(4);
  });

  it("ignores a notice for an agent not here, or for a connection the agent has left", async () => {
    const a = connection("gw/ws/new");
    const { client, pulls } = agentService(new Map([[hex(1), [message(1, 1n)]]]));
    const onPush = createPushReceiver({ agents: client, registry: registryWith({ conn: a.conn, uid: uid(1) }), logger: silentLogger() });
    await onPush({ instanceUid: hex(1), connectionId: "gw/ws/old" });
    await onPush({ instanceUid: hex(2), connectionId: "gw/ws/new" });
    expect(pulls).toHaveLength(0);
    expect(a.pushed).toHaveLength(0);
  });

  it("does not throw when the push fails (the agent gets it on its next message)", async () => {
    const a = connection("gw/ws/a", () => Promise.reject(new AgentConnectionClosedError("gw/ws/a")));
    const { client, pulls } = agentService(new Map([[hex(1), [message(1, 1n), message(1, 2n)]]]));
    const onPush = createPushReceiver({ agents: client, registry: registryWith({ conn: a.conn, uid: uid(1) }), logger: silentLogger() });
    await expect(onPush({ instanceUid: hex(1), connectionId: "gw/ws/a" })).resolves.toBeUndefined();
    expect(pulls).toHaveLength(1);
  });
});

describe("reconciling after a bus outage", () => {
  it("pulls for every identified WebSocket agent here, sixteen at a time", async () => {
    const conns = Array.from({ length: 40 }, (_, i) => ({ conn: connection(`gw/ws/${i}`).conn, uid: uid(i + 1) }));
    const registry = registryWith(...conns);
    registry.register(connection("gw/ws/anonymous").conn);
    const seen: PushNotice[] = [];
    let running = 0;
    let most = 0;
    await reconcileAll({
      registry,
      logger: silentLogger(),
      onPush: async (notice) => {
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setImmediate(resolve));
        seen.push(notice);
        running--;
      },
    });
    expect(most).toBe(16);
    expect(seen.map((n) => n.connectionId).sort()).toEqual(conns.map((c) => c.conn.id).sort());
    expect(seen.find((n) => n.connectionId === "gw/ws/7")?.instanceUid).toBe(hex(8));
  });
});
