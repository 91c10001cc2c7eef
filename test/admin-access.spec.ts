// Who may call what on the admin API, checked against a running standalone
// server: every method of every service generated from proto/ is walked
// (a method added later without a rule in METHOD_RULES fails here), then the
// credentials themselves — bad keys, revoked keys, OIDC tokens against a
// JWKS served by this test — and the browser guards.
import { readdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join, relative } from "node:path";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { toJsonString, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { AccessService, ApiKeySchema } from "@fleetplane/gen/fleetplane/access/v1/access_service_pb";
import { request } from "node:http";
import { METHOD_RULES, ruleOf, type MethodRule } from "@fleetplane/access";
import { bearer } from "./support/admin-key.js";
import { eventually } from "./support/eventually.js";
import { WsAgent, description } from "./support/simulated-agent.js";
import { instanceUidToHex } from "@fleetplane/platform";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { startTestServer } from "./support/standalone-server.js";

/** A private key jose signs with. */
type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

const GEN = join(import.meta.dirname, "..", "gen", "src", "fleetplane");

/** Every service in the generated code under gen/src/fleetplane. */
async function generatedServices(): Promise<DescService[]> {
  const files = readdirSync(GEN, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith("_pb.ts"));
  const services: DescService[] = [];
  for (const file of files) {
    const module = (await import(`@fleetplane/gen/fleetplane/${relative(GEN, join(GEN, file)).replace(/\.ts$/, "")}`)) as Record<string, unknown>;
    for (const value of Object.values(module)) if ((value as DescService | undefined)?.kind === "service") services.push(value as DescService);
  }
  return services;
}

const nameOf = (m: DescMethod) => `${m.parent.typeName}/${m.name}`;

/** Calls a method with an empty request; resolves to the code it failed with, or "ok". */
async function outcome(transport: Transport, method: DescMethod): Promise<Code | "ok"> {
  const client = createClient(method.parent, transport) as Record<string, (req: object, o: object) => unknown>;
  const call = client[method.localName]!;
  try {
    if (method.methodKind === "server_streaming") {
      // A stream the caller may open stays open: one look, then hang up.
      const stream = call({}, { signal: AbortSignal.timeout(300) }) as AsyncIterable<unknown>;
      for await (const _ of stream) break;
    } else {
      await call({}, {});
    }
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

/** The least role that holds a rule's permission. */
const ROLE_FOR: Record<Exclude<MethodRule, "internal" | "open">, "viewer" | "operator" | "admin"> = {
  authenticated: "viewer",
  read: "viewer",
  "read-secrets": "operator",
  operate: "operator",
  administer: "admin",
};

let t: Awaited<ReturnType<typeof startTestServer>>;
const transports = {} as Record<"none" | "viewer" | "operator" | "admin", Transport>;
const transportWith = (key?: string) => createConnectTransport({ baseUrl: t.apiUrl, httpVersion: "1.1", interceptors: key ? [bearer(key)] : [] });

beforeAll(async () => {
  t = await startTestServer();
  transports.none = transportWith();
  transports.admin = transportWith(t.adminKey);
  for (const role of ["viewer", "operator"] as const) transports[role] = transportWith((await t.access.createApiKey({ name: `table-${role}`, role })).secret);
});
afterAll(async () => {
  await t?.close();
});

describe("every method of every generated service", async () => {
  const services = await generatedServices();
  const methods = services.flatMap((s) => s.methods);

  it("has a rule in METHOD_RULES, and the table names no method that does not exist", () => {
    expect(methods.length).toBeGreaterThan(30);
    expect(methods.filter((m) => ruleOf(nameOf(m)) === undefined).map(nameOf)).toEqual([]);
    const known = new Set(methods.map(nameOf));
    expect(Object.keys(METHOD_RULES).filter((k) => k.startsWith("fleetplane.") && !known.has(k))).toEqual([]);
  });

  const publicMethods = methods.filter((m) => ruleOf(nameOf(m)) !== "internal");
  it.each(publicMethods.map((m) => [nameOf(m), m] as const))("%s: no credential → Unauthenticated; the least role → not refused; a viewer on a mutation → PermissionDenied", async (_name, method) => {
    const rule = ruleOf(nameOf(method)) as Exclude<MethodRule, "internal">;
    expect(rule).not.toBe("open"); // nothing of ours is open
    expect(await outcome(transports.none, method)).toBe(Code.Unauthenticated);
    const permitted = await outcome(transports[ROLE_FOR[rule as keyof typeof ROLE_FOR]], method);
    expect([Code.Unauthenticated, Code.PermissionDenied]).not.toContain(permitted);
    if (rule !== "read" && rule !== "authenticated") expect(await outcome(transports.viewer, method)).toBe(Code.PermissionDenied);
    if (rule === "administer") expect(await outcome(transports.operator, method)).toBe(Code.PermissionDenied);
  });

  const internalMethods = methods.filter((m) => ruleOf(nameOf(m)) === "internal");
  it.each(internalMethods.map((m) => [nameOf(m), m] as const))("%s (internal) is not served on the admin port, even to an admin", async (_name, method) => {
    expect(await outcome(transports.admin, method)).toBe(Code.Unimplemented);
  });
});

describe("credentials", () => {
  const agents = (key: string) => createClient(AgentService, transportWith(key));
  const refusal = async (call: Promise<unknown>) => {
    const err = await call.then(() => undefined, (e: unknown) => ConnectError.from(e));
    return err ? { code: err.code, message: err.rawMessage } : undefined;
  };

  it("bad, unknown, revoked and malformed keys each get Unauthenticated with a message that says which", async () => {
    expect(await refusal(agents("fpk_nope").listAgents({}))).toEqual({ code: Code.Unauthenticated, message: expect.stringContaining("malformed API key") });
    expect(await refusal(agents(`fpk_${"0".repeat(16)}_${"A".repeat(43)}`).listAgents({}))).toEqual({ code: Code.Unauthenticated, message: `unknown API key ${"0".repeat(16)}` });
    const made = await t.access.createApiKey({ name: "to-revoke", role: "viewer" });
    const wrongSecret = made.secret.slice(0, -4) + (made.secret.endsWith("AAAA") ? "BBBB" : "AAAA");
    expect(await refusal(agents(wrongSecret).listAgents({}))).toEqual({ code: Code.Unauthenticated, message: `wrong secret for API key ${made.apiKey!.id}` });
    expect(await refusal(agents(made.secret).listAgents({}))).toBeUndefined();
    await t.access.revokeApiKey({ id: made.apiKey!.id });
    expect(await refusal(agents(made.secret).listAgents({}))).toEqual({ code: Code.Unauthenticated, message: 'API key "to-revoke" was revoked' });
    expect(await refusal(agents("not-a-credential").listAgents({}))).toMatchObject({ code: Code.Unauthenticated, message: expect.stringContaining("neither an API key") });
  });

  it("a key is shown once, listed without its secret, and a viewer's mutation is refused, audited and changes nothing", async () => {
    const { secret, apiKey } = await t.access.createApiKey({ name: "audited-viewer", role: "viewer" });
    const listed = (await t.access.listApiKeys({})).apiKeys.find((k) => k.id === apiKey!.id)!;
    expect(listed.name).toBe("audited-viewer");
    expect(toJsonString(ApiKeySchema, listed)).not.toContain(secret.slice("fpk_".length + 17)); // the secret, after fpk_<id>_
    const viewer = createClient(AccessService, transportWith(secret));
    expect(await viewer.whoAmI({})).toMatchObject({ identity: "key:audited-viewer", permissions: ["read"] });
    const denied = await refusal(viewer.createApiKey({ name: "escalated", role: "admin" }));
    expect(denied).toEqual({ code: Code.PermissionDenied, message: expect.stringContaining('key:audited-viewer may not call fleetplane.access.v1.AccessService/CreateApiKey: it needs the "administer" permission') });
    expect((await t.access.listApiKeys({})).apiKeys.map((k) => k.name)).not.toContain("escalated");
    const { events } = await t.access.listAccessEvents({});
    expect(events[0]).toMatchObject({ method: "fleetplane.access.v1.AccessService/CreateApiKey", identity: "key:audited-viewer", outcome: "permission_denied" });
  });

  it("a role bound only in another namespace grants nothing in default, and acts in its own", async () => {
    const { secret } = await t.access.createApiKey({ name: "other-ns", role: "admin", namespace: "team-b" });
    const denied = await refusal(agents(secret).listAgents({}));
    expect(denied).toEqual({ code: Code.PermissionDenied, message: expect.stringContaining('it holds admin in namespace "team-b"') });
    // In its own namespace the role acts (the call is judged where its request says it acts).
    expect((await refusal(agents(secret).listAgents({ namespace: "team-b" })))?.code).not.toBe(Code.PermissionDenied);
    await t.access.createRoleBinding({ binding: { identity: "key:other-ns", role: "viewer", namespace: "default" } });
    expect(await refusal(agents(secret).listAgents({}))).toBeUndefined();
  });
});

describe("configuration bodies (they hold secrets)", () => {
  it("a viewer never gets them, ListAgents gives them to nobody, an operator reads them with GetAgent", async () => {
    const agent = await WsAgent.connect(t.wsUrl);
    agent.send({ agentDescription: description("secrets") as never });
    await eventually(() => agent.received[0]);
    const uid = instanceUidToHex(agent.uid);
    await t.agents.setRemoteConfig({ instanceUid: uid, files: { "": { content: { case: "text", value: "password: hunter2\n" } } } });
    const body = (a: Agent | undefined) => new TextDecoder().decode(a?.spec?.remoteConfig?.data?.config?.configMap[""]?.body ?? new Uint8Array());
    const as = (role: "viewer" | "operator") => createClient(AgentService, transports[role]);
    expect(body((await as("operator").getAgent({ instanceUid: uid })).agent)).toBe("password: hunter2\n");
    const seenByViewer = (await as("viewer").getAgent({ instanceUid: uid })).agent;
    expect(body(seenByViewer)).toBe("");
    expect(seenByViewer?.spec?.remoteConfig?.data?.hash.length).toBe(32); // what changed is still visible
    const listed = (await t.agents.listAgents({ filter: { attributes: { "service.name": "secrets" } } })).agents;
    expect(listed.map(body)).toEqual([""]);
    await agent.close();
  });
});

describe("OIDC bearer tokens against a local JWKS", () => {
  let jwks: Server;
  let issuer: string;
  let oidc: Awaited<ReturnType<typeof startTestServer>>;
  let key: SigningKey;
  let otherKey: SigningKey;
  beforeAll(async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    key = pair.privateKey;
    // Signs tokens the issuer never published a key for.
    ({ privateKey: otherKey } = await generateKeyPair("ES256"));
    const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    jwks = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      if (req.url === "/.well-known/openid-configuration") res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      else res.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", () => r()));
    issuer = `http://127.0.0.1:${(jwks.address() as { port: number }).port}`;
    oidc = await startTestServer({ oidc: { issuer, audience: "fleetplane-admin", rolesClaim: "groups", clockSkewSeconds: 5 } });
  });
  afterAll(async () => {
    await oidc?.close();
    jwks?.close();
  });

  const token = (o: { sub?: string; aud?: string; iss?: string; exp?: number; groups?: unknown; kid?: string; signer?: SigningKey } = {}) =>
    new SignJWT({ groups: o.groups ?? ["operator"] })
      .setProtectedHeader({ alg: "ES256", kid: o.kid ?? "k1" })
      .setSubject(o.sub ?? "alice")
      .setIssuer(o.iss ?? issuer)
      .setAudience(o.aud ?? "fleetplane-admin")
      .setIssuedAt()
      .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 300)
      .sign(o.signer ?? key);
  const whoAmI = async (credential: string) => {
    try {
      return await createClient(AccessService, createConnectTransport({ baseUrl: oidc.apiUrl, httpVersion: "1.1", interceptors: [bearer(credential)] })).whoAmI({});
    } catch (err) {
      const ce = ConnectError.from(err);
      return { code: ce.code, message: ce.rawMessage };
    }
  };

  it("accepts a valid token: the identity is oidc:<sub>, roles from the claim (discovery finds the JWKS)", async () => {
    expect(await whoAmI(await token())).toMatchObject({ identity: "oidc:alice", permissions: ["read", "read-secrets", "operate"] });
    expect(await whoAmI(await token({ sub: "bob", groups: ["default:viewer", "other:admin", "nonsense"] }))).toMatchObject({ identity: "oidc:bob", permissions: ["read"] });
  });

  it("refuses alg none, a wrong audience or issuer, an unknown kid, a foreign signature and an expired token, each saying which", async () => {
    const payload = Buffer.from(JSON.stringify({ sub: "mallory", iss: issuer, aud: "fleetplane-admin", exp: Math.floor(Date.now() / 1000) + 300, groups: ["admin"] })).toString("base64url");
    const none = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${payload}.`;
    expect(await whoAmI(none)).toEqual({ code: Code.Unauthenticated, message: expect.stringMatching(/algorithm is not accepted|malformed/) });
    expect(await whoAmI(await token({ aud: "someone-else" }))).toEqual({ code: Code.Unauthenticated, message: "the OIDC token is for another audience" });
    expect(await whoAmI(await token({ iss: "https://evil.example" }))).toEqual({ code: Code.Unauthenticated, message: "the OIDC token is from another issuer" });
    expect(await whoAmI(await token({ kid: "k9" }))).toEqual({ code: Code.Unauthenticated, message: expect.stringContaining("unknown kid") });
    expect(await whoAmI(await token({ signer: otherKey }))).toEqual({ code: Code.Unauthenticated, message: "the OIDC token's signature does not verify" });
    expect(await whoAmI(await token({ exp: Math.floor(Date.now() / 1000) - 60 }))).toEqual({ code: Code.Unauthenticated, message: "the OIDC token has expired" });
  });

  it("a token without a role may sign in but not read", async () => {
    const tok = await token({ sub: "carol", groups: [] });
    expect(await whoAmI(tok)).toMatchObject({ identity: "oidc:carol", permissions: [] });
    const agents = createClient(AgentService, createConnectTransport({ baseUrl: oidc.apiUrl, httpVersion: "1.1", interceptors: [bearer(tok)] }));
    await expect(agents.listAgents({})).rejects.toMatchObject({ code: Code.PermissionDenied });
  });
});

/** An HTTP/1.1 request with the Host header given (fetch does not let a caller set Host). */
function requestWithHost(url: string, host: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? "GET", headers: { ...o.headers, host } }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => (text += c)).on("end", () => resolve({ status: res.statusCode!, text }));
    });
    req.once("error", reject);
    req.end(o.body);
  });
}

describe("browsers", () => {
  it("a DNS-rebinding Host is refused with 421, on the API and the console; probes stay open", async () => {
    const rebound = "attacker.example:4321";
    const rpc = await requestWithHost(`${t.apiUrl}/fleetplane.agent.v1.AgentService/ListAgents`, rebound, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
      body: "{}",
    });
    expect(rpc.status).toBe(421);
    expect(rpc.text).toContain('Host "attacker.example" is not a name of this server');
    expect((await requestWithHost(`${t.apiUrl}/`, rebound)).status).toBe(421);
    expect((await requestWithHost(`${t.apiUrl}/healthz`, rebound)).status).toBe(200);
    expect((await requestWithHost(`${t.apiUrl}/`, "localhost:4321")).status).toBe(200);
  });

  it("a cross-origin request from an unlisted origin is refused, even a simple one", async () => {
    const simple = await fetch(`${t.apiUrl}/fleetplane.agent.v1.AgentService/ListAgents`, {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "text/plain", authorization: `Bearer ${t.adminKey}` },
      body: "{}",
    });
    expect(simple.status).toBe(403);
    expect(await simple.text()).toContain("cross-origin request from https://evil.example refused");
    // Same origin (the console) passes.
    const same = await fetch(`${t.apiUrl}/fleetplane.agent.v1.AgentService/ListAgents`, {
      method: "POST",
      headers: { origin: t.apiUrl, "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
      body: "{}",
    });
    expect(same.status).toBe(200);
  });
});
