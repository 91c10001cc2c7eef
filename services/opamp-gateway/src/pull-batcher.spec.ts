import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import type { PullServerToAgentRequest } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { SERVER_CAPABILITIES, serverToAgent } from "@fleetplane/opamp";
import { describe, expect, it } from "vitest";
import { MAX_PULL_BATCH, PullBatcher, SINGLE_PULLS_AFTER_UNIMPLEMENTED_MS } from "./pull-batcher.js";

const hex = (n: number) => Buffer.from(new Uint8Array(16).fill(n)).toString("hex");
const request = (n: number) => ({ instanceUid: hex(n), connectionId: `gw/ws/${n}`, revision: BigInt(n) });

/** A fake agent-service that records its calls: agent 13's pull fails; `unimplemented`: it has no PullServerToAgents. */
function agentService(o: { unimplemented?: boolean } = {}) {
  const batches: PullServerToAgentRequest[][] = [];
  const singles: PullServerToAgentRequest[] = [];
  const answer = (p: PullServerToAgentRequest) => ({ message: serverToAgent(Buffer.from(p.instanceUid, "hex"), SERVER_CAPABILITIES, { flags: p.revision }), more: false });
  const client = {
    pullServerToAgents: async (req: { pulls: PullServerToAgentRequest[] }) => {
      if (o.unimplemented) throw new ConnectError("no such method", Code.Unimplemented);
      batches.push(req.pulls);
      return {
        results: req.pulls.map((p) => (p.instanceUid === hex(13) ? { more: false, errorCode: Code.NotFound, errorMessage: "agent not found" } : { ...answer(p), errorCode: 0, errorMessage: "" })),
      };
    },
    pullServerToAgent: async (p: PullServerToAgentRequest) => {
      singles.push(p);
      return answer(p);
    },
  } as unknown as Client<typeof AgentGatewayService>;
  return { client, batches, singles };
}

describe("the pull batcher", () => {
  it("sends the pulls of one turn in one call and hands each caller its own result, a failed pull failing alone", async () => {
    const { client, batches, singles } = agentService();
    const batcher = new PullBatcher(client);
    const outcomes = await Promise.allSettled([11, 12, 13, 14].map((n) => batcher.pull(request(n))));
    expect(batches.map((b) => b.map((p) => p.instanceUid))).toEqual([[hex(11), hex(12), hex(13), hex(14)]]);
    expect(singles).toHaveLength(0);
    expect(outcomes.map((o) => (o.status === "fulfilled" ? o.value.message?.flags : ConnectError.from(o.reason).code))).toEqual([11n, 12n, Code.NotFound, 14n]);
    expect(outcomes[0]).toMatchObject({ status: "fulfilled", value: { more: false } });
    // A pull asked for in a later turn goes in a call of its own.
    await batcher.pull(request(15));
    expect(batches).toHaveLength(2);
  });

  it("splits a larger turn into calls of at most MAX_PULL_BATCH pulls", async () => {
    const { client, batches } = agentService();
    const batcher = new PullBatcher(client);
    await Promise.all(Array.from({ length: MAX_PULL_BATCH + 7 }, (_, i) => batcher.pull(request(20 + (i % 200)))));
    expect(batches.map((b) => b.length)).toEqual([MAX_PULL_BATCH, 7]);
  });

  it("pulls one agent per call from an agent-service without PullServerToAgents, and tries a batch again after a while", async () => {
    const service = agentService({ unimplemented: true });
    let now = 1_000;
    const batcher = new PullBatcher(service.client, () => now);
    const first = await Promise.all([1, 2].map((n) => batcher.pull(request(n))));
    expect(first.map((r) => r.message?.flags)).toEqual([1n, 2n]);
    expect(service.singles.map((p) => p.instanceUid)).toEqual([hex(1), hex(2)]);
    // Meanwhile no batch is tried: straight to single calls.
    await batcher.pull(request(3));
    expect(service.singles).toHaveLength(3);
    now += SINGLE_PULLS_AFTER_UNIMPLEMENTED_MS;
    const upgraded = agentService();
    (service.client as unknown as { pullServerToAgents: unknown }).pullServerToAgents = upgraded.client.pullServerToAgents;
    await batcher.pull(request(4));
    expect(upgraded.batches.map((b) => b.map((p) => p.instanceUid))).toEqual([[hex(4)]]);
    expect(service.singles).toHaveLength(3);
  });

  it("fails every pull of a call that fails otherwise, without single calls", async () => {
    const { client, singles } = agentService();
    (client as unknown as { pullServerToAgents: unknown }).pullServerToAgents = async () => {
      throw new ConnectError("agent-service is away", Code.Unavailable);
    };
    const outcomes = await Promise.allSettled([1, 2].map((n) => new PullBatcher(client).pull(request(n))));
    expect(outcomes.map((o) => o.status === "rejected" && ConnectError.from(o.reason).code)).toEqual([Code.Unavailable, Code.Unavailable]);
    expect(singles).toHaveLength(0);
  });
});
