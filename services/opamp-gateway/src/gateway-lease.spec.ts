import type { Client } from "@connectrpc/connect";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import { instanceUidToHex, silentLogger } from "@fleetplane/platform";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AgentConnection } from "./agent-connection.js";
import { AnnouncedCapabilities } from "./announced-capabilities.js";
import { startLeaseRenewal, type GatewayLease } from "./gateway-lease.js";
import { WebSocketRegistry } from "./websocket-registry.js";

const TTL_SECONDS = 30;

let lease: GatewayLease | undefined;
afterEach(async () => {
  await lease?.stop({ release: false });
  lease = undefined;
});

/**
 * A gateway with two identified WebSocket agents, whose agent-service answers
 * each renewal with what `answer` gives (a hold, or a failure); the clock is
 * the test's, renewals happen when the test calls `renew`.
 */
function setup(answer: () => Promise<{ hold: string }>) {
  let renewals = 0;
  let clock = 1_000_000;
  const pushed: string[] = [];
  const registry = new WebSocketRegistry();
  for (const n of [1, 2]) {
    const id = `conn-${n}`;
    registry.register({ id, push: async () => void pushed.push(id) } as unknown as AgentConnection);
    registry.updateInstanceUid(id, instanceUidToHex(new Uint8Array(16).fill(n)));
  }
  const connections = {
    renewGatewayLease: async () => {
      renewals++;
      return answer();
    },
  } as unknown as Client<typeof AgentGatewayService>;
  lease = startLeaseRenewal({
    gatewayId: "gw",
    epoch: "e1",
    ttlSeconds: TTL_SECONDS,
    connections,
    registry,
    capabilities: new AnnouncedCapabilities(),
    logger: silentLogger(),
    now: () => clock,
  });
  return {
    pushed,
    renewals: () => renewals,
    advance: (ms: number) => void (clock += ms),
    /** Lets time pass, then renews as a message would once the lease may have run out. */
    renew: async (afterMs: number) => {
      clock += afterMs;
      const before = renewals;
      await lease!.current();
      expect(renewals).toBe(before + 1);
      // A renewal while the lease still runs is not waited for: let it settle.
      await new Promise((resolve) => setImmediate(resolve));
    },
    /** Settles the renewal made at start (its answer, and what follows it, take microtasks only). */
    started: async () => {
      await vi.waitFor(() => expect(renewals).toBe(1));
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe("the gateway's lease renewal", () => {
  it("asks its agents for their full state only when agent-service names a new hold — not for a renewal that merely came late", async () => {
    let hold = "h1";
    const t = setup(async () => ({ hold }));
    await t.started();
    // The first hold of a process is no news: the agents here (connected while
    // that renewal was in flight) told this process everything in their first message.
    expect(t.pushed).toEqual([]);
    // Far later than a lease by our clock, but agent-service still held it: nothing was reaped.
    await t.renew(TTL_SECONDS * 1000 * 1.4);
    expect(t.pushed).toEqual([]);
    // The lease had run out: a new hold, every agent asked once.
    hold = "h2";
    await t.renew(TTL_SECONDS * 1000);
    expect(t.pushed.sort()).toEqual(["conn-1", "conn-2"]);
  });

  it("still asks when the answer naming the new hold was lost: the next one differs from the last it saw", async () => {
    let answer: () => Promise<{ hold: string }> = async () => ({ hold: "h1" });
    const t = setup(() => answer());
    await t.started();
    t.pushed.length = 0;
    // agent-service started a new hold, but its answer never arrived.
    answer = async () => Promise.reject(new Error("deadline exceeded"));
    await t.renew(TTL_SECONDS * 1000);
    expect(t.pushed).toEqual([]);
    answer = async () => ({ hold: "h2" });
    await t.renew(1_000 * TTL_SECONDS);
    expect(t.pushed.sort()).toEqual(["conn-1", "conn-2"]);
  });

  it("judges by its own clock when agent-service names no hold (older than holds)", async () => {
    const t = setup(async () => ({ hold: "" }));
    await t.started();
    expect(t.pushed).toEqual([]); // the first renewal came at once
    await t.renew((TTL_SECONDS * 1000 * 2) / 3 + 1); // late, within the lease
    expect(t.pushed).toEqual([]);
    await t.renew(TTL_SECONDS * 1000 + 1); // later than a lease
    expect(t.pushed.sort()).toEqual(["conn-1", "conn-2"]);
  });

  it("does not hold a message on a renewal while the lease still runs by its own expiry; waits once it may have run out", async () => {
    let answer: () => Promise<{ hold: string }> = async () => ({ hold: "h1" });
    const t = setup(() => answer());
    await t.started();
    // agent-service (its store) is slow: a renewal hangs.
    let release!: () => void;
    answer = () => new Promise((resolve) => (release = () => resolve({ hold: "h1" })));
    t.advance((TTL_SECONDS * 1000 * 2) / 3 + 1);
    // Late, within the lease: the message goes on, the renewal runs behind it.
    let passed = false;
    await lease!.current().then(() => (passed = true));
    expect(passed).toBe(true);
    expect(t.renewals()).toBe(2);
    expect(lease!.held()).toBe(true);
    // Past a lease length since the last answered renewal was sent: the message waits for the renewal.
    t.advance(TTL_SECONDS * 1000);
    expect(lease!.held()).toBe(false);
    let waited = false;
    const message = lease!.current().then(() => (waited = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(waited).toBe(false);
    expect(t.renewals()).toBe(2); // the one in flight, not a second
    release();
    await message;
    expect(waited).toBe(true);
  });
});
