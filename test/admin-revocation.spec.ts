// A credential taken away ends what it opened: a revoked API key, a removed
// role binding or an expired OIDC token ends the server streams it opened
// (WatchAgents) with Unauthenticated / PermissionDenied, and a revoked key is
// refused on its next call — on the replica that revoked it at once (its
// credential cache is told), on other replicas through the NATS notice, and
// on a process without the bus (command-service) within the cache's TTL.
import { createServer, type Server } from "node:http";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { bearer } from "./support/admin-key.js";
import { startDistributed, type Distributed } from "./support/distributed.js";
import { eventually } from "./support/eventually.js";
import { startTestServer } from "./support/standalone-server.js";

const agentsAt = (baseUrl: string, key: string) => createClient(AgentService, createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] }));
const codeOf = (call: Promise<unknown>) => call.then(() => "ok" as const, (e: unknown) => ConnectError.from(e).code);

/** A figure of a server's /metrics (open, as probes are), e.g. metric(url, 'fleetplane_admin_credential_reads_total{result="miss"}'). */
async function metric(baseUrl: string, series: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no ${series} in ${baseUrl}/metrics`);
  return Number(line.slice(series.length + 1));
}
const OPEN_STREAMS = "fleetplane_admin_streams_open";

/** Opens WatchAgents and reads on; `ended` settles with the stream's final error (or undefined if it ended cleanly). */
async function watch(baseUrl: string, key: string) {
  const stream = agentsAt(baseUrl, key).watchAgents({})[Symbol.asyncIterator]();
  const state: { error?: ConnectError; endedAtMs?: number } = {};
  const ended = (async () => {
    try {
      for (;;) if ((await stream.next()).done) break;
    } catch (err) {
      state.error = ConnectError.from(err);
    }
    state.endedAtMs = Date.now();
  })();
  return { state, ended };
}

describe("standalone: revocation ends streams and the next call", () => {
  let t: Awaited<ReturnType<typeof startTestServer>>;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a hot key costs no store read per call: its verification is cached", async () => {
    const hot = await t.access.createApiKey({ name: "hot", role: "viewer" });
    const agents = agentsAt(t.apiUrl, hot.secret);
    await agents.listAgents({});
    const misses = await metric(t.apiUrl, 'fleetplane_admin_credential_reads_total{result="miss"}');
    const hits = await metric(t.apiUrl, 'fleetplane_admin_credential_reads_total{result="hit"}');
    for (let i = 0; i < 20; i++) await agents.listAgents({});
    expect(await metric(t.apiUrl, 'fleetplane_admin_credential_reads_total{result="miss"}')).toBe(misses);
    // Each call looks up the key and its bindings: 40 hits, no miss.
    expect(await metric(t.apiUrl, 'fleetplane_admin_credential_reads_total{result="hit"}')).toBe(hits + 40);
  });

  it("a revoked key's WatchAgents stream ends with Unauthenticated and its next call is refused; another key's stream stays", async () => {
    const watcher = await t.access.createApiKey({ name: "watcher", role: "viewer" });
    const bystander = await t.access.createApiKey({ name: "bystander", role: "viewer" });
    // Warm the cache: the key was verified and is now kept in memory.
    expect(await codeOf(agentsAt(t.apiUrl, watcher.secret).listAgents({}))).toBe("ok");
    const before = await metric(t.apiUrl, OPEN_STREAMS);
    const s = await watch(t.apiUrl, watcher.secret);
    const other = await watch(t.apiUrl, bystander.secret);
    await eventually(async () => (await metric(t.apiUrl, OPEN_STREAMS)) === before + 2);
    const revokedAt = Date.now();
    await t.access.revokeApiKey({ id: watcher.apiKey!.id });
    expect(await codeOf(agentsAt(t.apiUrl, watcher.secret).listAgents({}))).toBe(Code.Unauthenticated);
    await s.ended;
    expect(s.state.error?.code).toBe(Code.Unauthenticated);
    expect(s.state.error?.rawMessage).toMatch(/API key "watcher" was revoked/);
    expect(s.state.endedAtMs! - revokedAt).toBeLessThan(2_000);
    expect(other.state.endedAtMs).toBeUndefined();
    expect(await metric(t.apiUrl, OPEN_STREAMS)).toBe(before + 1);
  });

  it("a stream ends with PermissionDenied when the key's role binding is deleted", async () => {
    const made = await t.access.createApiKey({ name: "demoted", role: "viewer" });
    const before = await metric(t.apiUrl, OPEN_STREAMS);
    const s = await watch(t.apiUrl, made.secret);
    await eventually(async () => (await metric(t.apiUrl, OPEN_STREAMS)) === before + 1);
    await t.access.deleteRoleBinding({ binding: { identity: "key:demoted", role: "viewer", namespace: "default" } });
    await s.ended;
    expect(s.state.error?.code).toBe(Code.PermissionDenied);
  });
});

describe("standalone: an expired OIDC token ends its stream", () => {
  let jwks: Server;
  let issuer: string;
  let t: Awaited<ReturnType<typeof startTestServer>>;
  let sign: (expSeconds: number) => Promise<string>;
  beforeAll(async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    jwks = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      if (req.url === "/.well-known/openid-configuration") res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      else res.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", () => r()));
    issuer = `http://127.0.0.1:${(jwks.address() as { port: number }).port}`;
    sign = (exp) =>
      new SignJWT({ roles: ["viewer"] }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setSubject("alice").setIssuer(issuer).setAudience("fleetplane-admin").setExpirationTime(exp).sign(pair.privateKey);
    t = await startTestServer({ oidc: { issuer, audience: "fleetplane-admin", clockSkewSeconds: 0 } });
  });
  afterAll(async () => {
    await t?.close();
    jwks?.close();
  });

  it("at its exp, with Unauthenticated (no periodic check needed: the token's end is timed)", async () => {
    const exp = Math.floor(Date.now() / 1000) + 3;
    const s = await watch(t.apiUrl, await sign(exp));
    await s.ended;
    expect(s.state.error?.code).toBe(Code.Unauthenticated);
    expect(s.state.error?.rawMessage).toMatch(/expired/);
    expect(s.state.endedAtMs!).toBeGreaterThanOrEqual(exp * 1000);
    expect(s.state.endedAtMs! - exp * 1000).toBeLessThan(2_000);
  });
});

describe("distributed: a key revoked on one replica", () => {
  let d: Distributed;
  beforeAll(async () => {
    d = await startDistributed({ agentServiceReplicas: 2 });
  }, 120_000);
  afterAll(async () => {
    await d?.close();
  }, 60_000);

  it("is refused by the other replica and ends its streams there through the NATS notice, and by command-service within the cache TTL", async () => {
    const made = await d.access.createApiKey({ name: "roaming", role: "viewer" });
    const replica2 = d.secondReplica!.url;
    // Both other processes have verified (and cached) the key.
    expect(await codeOf(agentsAt(replica2, made.secret).listAgents({}))).toBe("ok");
    const commands = createClient(CommandService, createConnectTransport({ baseUrl: d.commandService.url, httpVersion: "1.1", interceptors: [bearer(made.secret)] }));
    expect(await codeOf(commands.listCommands({}))).toBe("ok");
    const s = await watch(replica2, made.secret);
    await eventually(async () => (await metric(replica2, OPEN_STREAMS)) === 1);

    const revokedAt = Date.now();
    await d.access.revokeApiKey({ id: made.apiKey!.id }); // on replica 1
    expect(await codeOf(agentsAt(d.agentService.url, made.secret).listAgents({}))).toBe(Code.Unauthenticated);
    await s.ended;
    expect(s.state.error?.code).toBe(Code.Unauthenticated);
    const streamDelay = s.state.endedAtMs! - revokedAt;
    expect(await codeOf(agentsAt(replica2, made.secret).listAgents({}))).toBe(Code.Unauthenticated);
    // Well under the 15 s TTL: the notice did it, not the cache running out.
    expect(streamDelay).toBeLessThan(3_000);

    // command-service has no bus: its cache forgets the key within the TTL (15 s by default).
    await eventually(async () => (await codeOf(commands.listCommands({}))) === Code.Unauthenticated, 20_000, "command-service to refuse the revoked key");
    const ttlDelay = Date.now() - revokedAt;
    expect(ttlDelay).toBeLessThan(17_000);
    console.log(`revocation seen: replica-2 stream ended after ${streamDelay} ms (NATS notice); command-service refused after ${ttlDelay} ms (TTL)`);
  }, 60_000);
});
