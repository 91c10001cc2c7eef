import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { ServerErrorResponseType, type ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";
import { startDistributed, type Distributed } from "./support/distributed.js";
import { eventually } from "./support/eventually.js";
import { within } from "./support/within.js";
import { WsAgent, description, httpPoll } from "./support/simulated-agent.js";

const LEASE_SECONDS = 3;
/** How long a call to a hung database may take to fail (the driver's bound, ~16 s, with room for a loaded machine). */
const HUNG_BOUND_MS = 40_000;
let d: Distributed;
beforeAll(async () => {
  d = await startDistributed({ leaseSeconds: LEASE_SECONDS });
}, 180_000);
afterAll(async () => {
  await d?.close();
}, 60_000);

const hex = instanceUidToHex;
const config = (text: string) => ({ "": { content: { case: "text" as const, value: text } } });
const configOf = (m: ServerToAgent | undefined) => (m?.remoteConfig ? new TextDecoder().decode(m.remoteConfig.config!.configMap[""]!.body) : undefined);
/** The remote config stored for the agent (its one file), as agent-service answers GetAgent; undefined when none. */
async function storedConfigOf(uid: Uint8Array): Promise<string | undefined> {
  const body = (await d.agents.getAgent({ instanceUid: hex(uid) })).agent?.spec?.remoteConfig?.data?.config?.configMap[""]?.body;
  return body ? new TextDecoder().decode(body) : undefined;
}

/** A WebSocket agent on gateway `i` that has said hello and been answered. */
const agentOn = (i: number, uid = uuidv7Bytes(), seq = 0n) => WsAgent.hello(d.wsUrlOf(i), uid, { agentDescription: description(`gw${i}`) }, { seq });


describe("routing pushes in a distributed fleet", () => {
  it("reaches only the gateway holding each agent, and follows an agent that moves to another gateway", async () => {
    const onA = await agentOn(0);
    const onB = await agentOn(1);
    expect((await d.agents.getAgent({ instanceUid: hex(onB.uid) })).agent?.status?.gatewayId).toBe("gw-b");

    // Admin calls land on agent-service; each push crosses NATS to its gateway.
    const [ra, rb] = await Promise.all([
      d.agents.setRemoteConfig({ instanceUid: hex(onA.uid), files: config("a: 1\n") }),
      d.agents.setRemoteConfig({ instanceUid: hex(onB.uid), files: config("b: 1\n") }),
    ]);
    expect(ra.pushed && rb.pushed).toBe(true);
    expect(configOf(await eventually(() => onA.received.find((m) => m.remoteConfig)))).toBe("a: 1\n");
    expect(configOf(await eventually(() => onB.received.find((m) => m.remoteConfig)))).toBe("b: 1\n");

    // onA moves to gateway B (carrying on its sequence numbers): from then on
    // pushes go to B, and gateway A's stale socket is never used.
    const seq = onA.seq;
    await onA.close();
    await eventually(async () => (await d.agents.getAgent({ instanceUid: hex(onA.uid) })).agent?.status?.connected === false, 10_000, "disconnect recorded");
    const moved = await agentOn(1, onA.uid, seq);
    expect((await d.agents.getAgent({ instanceUid: hex(moved.uid) })).agent?.status?.gatewayId).toBe("gw-b");
    await d.agents.setRemoteConfig({ instanceUid: hex(moved.uid), files: config("a: 2\n") });
    await eventually(() => moved.received.find((m) => configOf(m) === "a: 2\n"), 10_000, "the new config, through gateway B");
    await Promise.all([moved.close(), onB.close()]);
  });
});

describe("HTTP agents in a distributed fleet", () => {
  it("get a pending config on their next poll from whichever gateway the poll lands on", async () => {
    const uid = uuidv7Bytes();
    const first = await httpPoll(d.httpUrlOf(0), { instanceUid: uid, sequenceNum: 0n, agentDescription: description("http") as never });
    expect(first.status).toBe(200);
    const { pushed } = await d.agents.setRemoteConfig({ instanceUid: hex(uid), files: config("polled: yes\n") });
    expect(pushed).toBe(false); // nothing to push to: it polls
    const next = await httpPoll(d.httpUrlOf(1), { instanceUid: uid, sequenceNum: 1n });
    expect(configOf(next.message)).toBe("polled: yes\n");
    expect((await d.agents.getAgent({ instanceUid: hex(uid) })).agent?.status?.gatewayId).toBe("gw-b");
  });
});

/** The agent's reports are answered normally again (polled); the first such reply. */
async function servedAgain(agent: WsAgent, reported: string, after: string): Promise<ServerToAgent> {
  return eventually(async () => {
    const r = await agent.roundTrip({ agentDescription: description(reported) as never });
    // Thrown, not "not yet": eventually's timeout then names the last error the agent was answered with.
    if (r.errorResponse) throw new Error(`answered with error ${ServerErrorResponseType[r.errorResponse.type]}: ${r.errorResponse.errorMessage}`);
    return r;
  }, 30_000, `normal replies after ${after}`).catch((err: unknown) => {
    // Where the servers stood: their last log lines.
    throw new Error(`${String(err)}\n--- agent-service:\n${d.agentService.log()}\n--- ${d.gateways[0]!.name}:\n${d.gateways[0]!.log()}`);
  });
}

/** servedAgain, and the admin write refused during the outage left no configuration behind. */
async function servedAgainWithNothingSaved(agent: WsAgent, reported: string, after: string): Promise<void> {
  const back = await servedAgain(agent, reported, after);
  expect(back.remoteConfig).toBeUndefined();
  const { agent: stored } = await d.agents.getAgent({ instanceUid: hex(agent.uid) });
  expect(stored?.spec?.remoteConfig).toBeUndefined();
}

describe("failures", () => {
  it("NATS down: agents keep being served, and a push made meanwhile arrives once NATS is back", async () => {
    const agent = await agentOn(0);
    await d.stopNats();
    expect((await agent.roundTrip()).errorResponse).toBeUndefined();

    // Saved first, then the push is attempted: the config is not lost.
    await d.agents.setRemoteConfig({ instanceUid: hex(agent.uid), files: config("during: nats-outage\n") });
    expect(await storedConfigOf(agent.uid)).toBe("during: nats-outage\n");
    expect(agent.received.some((m) => m.remoteConfig)).toBe(false);

    await d.startNats();
    // The agent sends nothing: the gateway reconciles its agents when NATS returns.
    const push = await eventually(() => agent.received.find((m) => m.remoteConfig), 30_000, "push after NATS came back");
    expect(configOf(push)).toBe("during: nats-outage\n");
    for (const p of [...d.gateways, d.agentService]) await eventually(() => p.logged('"NATS connection restored"'), 15_000, `${p.name} reconnected to NATS`);
    await agent.close();
  });

  it("database down: admin writes fail with `unavailable`, agents get Unavailable + RetryInfo, nothing half-written, then service resumes", async () => {
    const agent = await agentOn(0);
    // Gateway 1 checks the agents' token with agent-service once and remembers
    // the answer; the stranger below must get that far to be answered
    // UNAVAILABLE in OpAMP. Unchecked, its upgrade is refused with 503 +
    // Retry-After instead (spec-correct too, but not what this test asserts),
    // which is how the test failed when run on its own (-t).
    await (await agentOn(1)).close();
    await d.stopDatabase();
    try {
      const write = await d.agents.setRemoteConfig({ instanceUid: hex(agent.uid), files: config("never: saved\n") }).catch((e) => e);
      expect(ConnectError.from(write).code).toBe(Code.Unavailable);
      expect(ConnectError.from(write).rawMessage).toMatch(/MongoDB is unavailable/);

      // A report that changes the agent must be stored: the agent is told to retry.
      const reply = await agent.roundTrip({ agentDescription: description("changed") as never });
      expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
      expect(reply.errorResponse?.Details.case).toBe("retryInfo");
      // So is an agent the service has never seen.
      const stranger = await WsAgent.connect(d.wsUrlOf(1));
      stranger.send({ agentDescription: description() as never });
      const strangerReply = await eventually(() => stranger.received[0], 15_000, "reply to an unknown agent");
      expect(strangerReply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
      await stranger.close();
    } finally {
      await d.startDatabase();
    }
    // Service resumes by itself, and the refused write left nothing behind.
    await servedAgainWithNothingSaved(agent, "changed", "the database returned");
    expect((await d.commands.listCommands({ instanceUid: hex(agent.uid) })).commands).toHaveLength(0);
    await agent.close();
  });

  // Bounded by the driver, not by us: its monitor's heartbeat (every 10 s)
  // times out after connectTimeoutMS (3 s) and interrupts the connections in
  // use, and a retry then fails server selection (3 s). So ~16 s at worst.
  it("database hung (its process frozen, sockets open): admin writes and agent reports fail with `unavailable` in bounded time, not hang; then service resumes", async () => {
    const agent = await agentOn(0);
    d.freezeDatabase();
    try {
      const write = await within(d.agents.setRemoteConfig({ instanceUid: hex(agent.uid), files: config("never: saved\n") }).catch((e) => e), HUNG_BOUND_MS, "an admin write to a hung database");
      expect(ConnectError.from(write).code).toBe(Code.Unavailable);
      const reply = await within(agent.roundTrip({ agentDescription: description("changed while hung") as never }), HUNG_BOUND_MS, "an agent's report while the database hung");
      expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
      expect(reply.errorResponse?.Details.case).toBe("retryInfo");
    } finally {
      d.thawDatabase();
    }
    // Not "nothing saved", as when the database was down: a write refused with
    // `unavailable` while the database hung was seen stored once it thawed (1
    // run in 5 of this file under load), and `unavailable` says "retry", not
    // "not done" (as in gRPC; the write is idempotent). A stopped database
    // refuses the connection, so nothing of the write reaches it.
    await servedAgain(agent, "changed while hung", "the database thawed");
    // Nothing half-written all the same: the refused configuration is stored whole or not at all.
    expect([undefined, "never: saved\n"]).toContain(await storedConfigOf(agent.uid));
    await agent.close();
  }, 120_000);

  it("agent-service restarts: agents see Unavailable + RetryInfo, then normal service", async () => {
    const agent = await agentOn(1);
    await d.agentService.stop();
    const reply = await agent.roundTrip({ agentDescription: description("while-down") as never });
    expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
    expect(reply.errorResponse?.Details.value?.retryAfterNanoseconds).toBe(1_000_000_000n);
    await d.agentService.start();
    await eventually(async () => {
      const r = await agent.roundTrip();
      return r.errorResponse ? undefined : r;
    }, 30_000, "normal replies after agent-service returned");
    // And pushes work again through the restarted service.
    expect((await d.agents.setRemoteConfig({ instanceUid: hex(agent.uid), files: config("after: restart\n") })).pushed).toBe(true);
    expect(configOf(await eventually(() => agent.received.find((m) => m.remoteConfig), 15_000, "push"))).toBe("after: restart\n");
    await agent.close();
  });

  it(`a killed gateway: its agents are marked disconnected within the lease (${LEASE_SECONDS} s + reaping), and reconnect elsewhere`, async () => {
    const agent = await agentOn(1);
    await d.gateways[1]!.stop("SIGKILL");
    const killedAt = Date.now();
    await eventually(async () => (await d.agents.getAgent({ instanceUid: hex(agent.uid) })).agent?.status?.connected === false, 20_000, "reaped");
    // Bounded: the lease, plus one reaper round, plus slack for a loaded machine.
    expect(Date.now() - killedAt).toBeLessThan((LEASE_SECONDS + 1) * 1000 + 5_000);
    // The reaper then deletes the dead gateway's connections.
    await eventually(async () => (await d.connections.listConnections({ gatewayId: "gw-b", pageSize: 100 })).connections.length === 0, 10_000, "gw-b connections deleted");

    const again = await agentOn(0, agent.uid, agent.seq);
    const { agent: stored } = await d.agents.getAgent({ instanceUid: hex(again.uid) });
    expect(stored?.status?.connected).toBe(true);
    expect(stored?.status?.gatewayId).toBe("gw-a");
    await again.close();
    await agent.close().catch(() => undefined);
    await d.gateways[1]!.start();
  });
});
