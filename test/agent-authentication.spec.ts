import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";
import WebSocket from "ws";
import { CommandKind } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { startTestServer, eventually } from "./support/standalone-server.js";
import { WsAgent, description, httpPoll } from "./support/simulated-agent.js";

type Server = Awaited<ReturnType<typeof startTestServer>>;

/** A WebSocket upgrade with these headers: the HTTP status it was refused with, or 101. */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<{ status: number; challenge?: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once("open", () => {
      socket.close();
      resolve({ status: 101 });
    });
    socket.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0, ...(res.headers["www-authenticate"] ? { challenge: String(res.headers["www-authenticate"]) } : {}) });
      res.resume();
    });
    socket.once("error", reject);
  });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("agent authentication with enrollment tokens (--agent-auth token)", () => {
  let t: Server;
  beforeAll(async () => {
    t = await startTestServer({ agentTokenRecheckMs: 200 });
  });
  afterAll(() => t?.close());

  it("refuses a missing, malformed, unknown, Basic or huge credential with 401 (400 for the huge header) before any agent state is touched", async () => {
    const uid = uuidv7Bytes();
    const cases: Array<[Record<string, string>, number]> = [
      [{}, 401],
      [{ authorization: "Bearer not-a-token" }, 401],
      [bearer(`fpe_0123456789abcdef_${"A".repeat(43)}`), 401],
      [{ authorization: `Basic ${Buffer.from("agent:secret").toString("base64")}` }, 401],
      [{ authorization: `Bearer ${"x".repeat(5000)}` }, 400],
    ];
    for (const [headers, status] of cases) {
      const poll = await httpPoll(t.httpUrl, { instanceUid: uid, agentDescription: description() }, { withoutToken: true, headers });
      expect(poll.status, JSON.stringify(headers).slice(0, 60)).toBe(status);
      if (status === 401) expect(poll.headers.get("www-authenticate")).toMatch(/^Bearer/);
      const ws = await upgradeStatus(t.wsUrl, headers);
      expect(ws.status).toBe(status);
    }
    await expect(t.agents.getAgent({ instanceUid: instanceUidToHex(uid) })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("puts an agent in its token's namespace with its labels, and records the credential it is bound to", async () => {
    await t.namespaces.createNamespace({ name: "edge" });
    const { token, secret } = await t.enrollment.createEnrollmentToken({ namespace: "edge", labels: { site: "lyon" }, description: "edge agents" });
    const uid = uuidv7Bytes();
    const agent = await WsAgent.connect(t.wsUrl, uid, { headers: bearer(secret) });
    agent.send({ agentDescription: description("edge-agent") });
    await eventually(() => agent.received.length > 0);
    const stored = (await t.agents.getAgent({ instanceUid: instanceUidToHex(uid), namespace: "edge" })).agent!;
    expect(stored.metadata?.namespace).toBe("edge");
    expect(stored.metadata?.labels).toEqual({ site: "lyon" });
    expect(stored.metadata?.credential).toBe(`token:${token!.id}`);
    const listed = (await t.enrollment.listEnrollmentTokens({ namespace: "edge" })).tokens;
    expect(listed.map((x) => x.id)).toEqual([token!.id]);
    expect(listed[0]!.uses).toBe(1);
    expect(listed[0]!.secretHash.length).toBe(0);
    await agent.close();
  });

  it("refuses the impersonation of a live agent: another token over HTTP gets 401 and neither its config nor a forged status; over WebSocket the socket is closed 1008", async () => {
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    const victim = await WsAgent.connect(t.wsUrl, uid);
    victim.send({ agentDescription: description("victim") });
    await eventually(() => victim.received.length > 0);
    await t.agents.setRemoteConfig({ instanceUid: hex, files: { "": { content: { case: "text", value: "secret: Bearer s3cr3t" } } } });
    const before = (await t.agents.getAgent({ instanceUid: hex })).agent!;

    const other = (await t.enrollment.createEnrollmentToken({ description: "attacker's own token" })).secret;
    const forged = await httpPoll(
      t.httpUrl,
      { instanceUid: uid, sequenceNum: 99n, health: { healthy: false, lastError: "forged" } },
      { withoutToken: true, headers: { ...bearer(other), "x-forwarded-host": "evil.example" } },
    );
    expect(forged.status).toBe(401);
    expect(forged.message).toBeUndefined();
    const noToken = await httpPoll(t.httpUrl, { instanceUid: uid, sequenceNum: 100n }, { withoutToken: true });
    expect(noToken.status).toBe(401);

    const intruder = await WsAgent.connect(t.wsUrl, uid, { headers: bearer(other) });
    intruder.send({ sequenceNum: 5n, health: { healthy: false, lastError: "forged" } });
    await eventually(() => intruder.closeCode === 1008, 5_000, "the intruder's socket closed 1008");
    expect(intruder.received).toHaveLength(0);

    const after = (await t.agents.getAgent({ instanceUid: hex })).agent!;
    expect(after.status?.connected).toBe(true);
    expect(after.status?.connectionId).toBe(before.status?.connectionId);
    expect(after.status?.health?.lastError ?? "").not.toBe("forged");
    // The real agent still gets what is pushed to it.
    const seen = victim.received.length;
    await t.agents.sendCommand({ instanceUid: hex, kind: CommandKind.RESTART });
    await eventually(() => victim.received.length > seen, 5_000, "the victim's push");
    await victim.close();
  });

  it("ignores X-Forwarded-Host and -Proto from a peer that is not a --trusted-proxies one", async () => {
    const uid = uuidv7Bytes();
    const poll = await httpPoll(t.httpUrl, { instanceUid: uid, agentDescription: description() }, { headers: { "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" } });
    expect(poll.status).toBe(200);
    const { connections } = await t.connections.listConnections({});
    const mine = connections.find((c) => Buffer.from(c.instanceUid).equals(Buffer.from(uid)));
    expect(mine?.endpoint).toBe(t.httpUrl);
  });

  it("refuses expired, revoked and used-up tokens with 401", async () => {
    const expired = await t.enrollment.createEnrollmentToken({ ttlSeconds: 1 });
    const revoked = await t.enrollment.createEnrollmentToken({});
    await t.enrollment.revokeEnrollmentToken({ id: revoked.token!.id });
    const once = await t.enrollment.createEnrollmentToken({ maxUses: 1 });
    expect((await httpPoll(t.httpUrl, { instanceUid: uuidv7Bytes() }, { withoutToken: true, headers: bearer(once.secret) })).status).toBe(200);
    // A second instance UID is over the maximum; the first keeps working.
    const second = await httpPoll(t.httpUrl, { instanceUid: uuidv7Bytes() }, { withoutToken: true, headers: bearer(once.secret) });
    expect(second.status).toBe(401);
    await eventually(async () => (await httpPoll(t.httpUrl, { instanceUid: uuidv7Bytes() }, { withoutToken: true, headers: bearer(expired.secret) })).status === 401, 5_000, "the token to expire");
    expect((await httpPoll(t.httpUrl, { instanceUid: uuidv7Bytes() }, { withoutToken: true, headers: bearer(revoked.secret) })).status).toBe(401);
    expect((await upgradeStatus(t.wsUrl, bearer(revoked.secret))).status).toBe(401);
  });

  it("revoking a token closes the live connections of its agents and refuses their next ones", async () => {
    const { token, secret } = await t.enrollment.createEnrollmentToken({});
    const agent = await WsAgent.connect(t.wsUrl, uuidv7Bytes(), { headers: bearer(secret) });
    agent.send({ agentDescription: description() });
    await eventually(() => agent.received.length > 0);
    await t.enrollment.revokeEnrollmentToken({ id: token!.id });
    await eventually(() => agent.closeCode === 1008, 5_000, "the socket closed 1008");
    expect((await upgradeStatus(t.wsUrl, bearer(secret))).status).toBe(401);
    await expect(t.enrollment.revokeEnrollmentToken({ id: "0000000000000000" })).rejects.toSatisfy((e) => ConnectError.from(e).code === Code.NotFound);
  });
});

describe("agent authentication off (--agent-auth none)", () => {
  it("takes agents without a credential and binds nothing", async () => {
    const t = await startTestServer({ agentAuth: "none" });
    try {
      const uid = uuidv7Bytes();
      const poll = await httpPoll(t.httpUrl, { instanceUid: uid, agentDescription: description() });
      expect(poll.status).toBe(200);
      const agent = (await t.agents.getAgent({ instanceUid: instanceUidToHex(uid) })).agent!;
      expect(agent.metadata?.credential).toBe("");
    } finally {
      await t.close();
    }
  });
});
