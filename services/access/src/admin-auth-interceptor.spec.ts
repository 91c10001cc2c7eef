import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { GroupService } from "@fleetplane/gen/fleetplane/fleet/v1/group_service_pb";
import { silentLogger } from "@fleetplane/platform";
import { createInProcessPushBus } from "@fleetplane/platform-node";
import { describe, expect, it } from "vitest";
import { accessChanges } from "./access-changes.js";
import { AccessEvents } from "./access-events.js";
import type { AccessRepository, ApiKeyRecord } from "./access-repository.js";
import { adminAuthInterceptor } from "./admin-auth-interceptor.js";
import { generateApiKey } from "./api-keys.js";
import { createAuthenticator, UnauthenticatedError, type Authenticator } from "./authenticator.js";
import { createCredentialCache } from "./credential-cache.js";
import { OpenStreams } from "./open-streams.js";
import type { RoleBinding } from "./role-bindings.js";

/** Just what the interceptor and the cache read, in memory, with a switch to fail like a store that is down. */
function memoryAccess() {
  const keys = new Map<string, ApiKeyRecord>();
  const bindings: RoleBinding[] = [];
  const state = { down: false, keyReads: 0 };
  const repository = {
    async getApiKey(id: string) {
      state.keyReads++;
      if (state.down) throw new Error("store down");
      return keys.get(id);
    },
    async listRoleBindings(identity?: string) {
      if (state.down) throw new Error("store down");
      return bindings.filter((b) => identity === undefined || b.identity === identity);
    },
    async appendAccessEvent() {},
  } as unknown as AccessRepository;
  const addKey = (name: string, role: RoleBinding["role"], namespace = "*") => {
    const made = generateApiKey();
    keys.set(made.id, { id: made.id, name, secretSha256: made.secretSha256, createdAtMs: 0, createdBy: "test" });
    bindings.push({ identity: `key:${name}`, role, namespace });
    return { id: made.id, key: made.key };
  };
  const revoke = (id: string) => keys.set(id, { ...keys.get(id)!, revokedAtMs: 1 });
  return { repository, addKey, revoke, state, bindings };
}

/** An admin API with WatchAgents (one change, then open until its signal aborts) behind the interceptor. */
function setup(o: { ttlMs?: number; recheckIntervalMs?: number; authenticate?: Authenticator } = {}) {
  const access = memoryAccess();
  const cache = createCredentialCache(access.repository, { ttlMs: o.ttlMs ?? 60_000 });
  const streams = new OpenStreams({ recheckIntervalMs: o.recheckIntervalMs ?? 60_000, logger: silentLogger() });
  const changes = accessChanges({ bus: createInProcessPushBus(), cache, streams, logger: silentLogger() });
  const handlerEnded: string[] = [];
  const interceptor = adminAuthInterceptor({
    mode: "on",
    authenticate: o.authenticate ?? createAuthenticator({ source: cache }),
    events: new AccessEvents({ repository: access.repository, logger: silentLogger() }),
    streams,
    logger: silentLogger(),
  });
  const transport = createRouterTransport(
    ({ service }) => {
      // A request that carries its resource whole: the group's namespace is the call's.
      service(GroupService, { createGroup: async () => ({}) } as never);
      service(AgentService, {
        async *watchAgents(_req: unknown, ctx: { signal: AbortSignal }) {
          yield {};
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
          handlerEnded.push(String(ctx.signal.reason));
        },
        async listAgents() {
          return {};
        },

      } as never);
    },
    { router: { interceptors: [interceptor] } },
  );
  const client = createClient(AgentService, transport);
  const groups = createClient(GroupService, transport);
  const watch = (key: string) => {
    const stream = client.watchAgents({}, { headers: { authorization: `Bearer ${key}` } })[Symbol.asyncIterator]();
    return { first: stream.next(), rest: stream.next().then(() => undefined, (err: unknown) => ConnectError.from(err)) };
  };
  return { ...access, cache, streams, changes, client, groups, watch, handlerEnded };
}

describe("admin interceptor: open streams", () => {
  it("ends a stream with Unauthenticated as soon as its key's revocation is announced, and stops the handler", async () => {
    const t = setup();
    const viewer = t.addKey("watcher", "viewer");
    const other = t.addKey("bystander", "viewer");
    const s = t.watch(viewer.key);
    const o = t.watch(other.key);
    await s.first;
    await o.first;
    expect(t.streams.size).toBe(2);
    t.revoke(viewer.id);
    await t.changes.changed("key:watcher");
    const err = await s.rest;
    expect(err?.code).toBe(Code.Unauthenticated);
    expect(err?.rawMessage).toMatch(/the stream was ended: API key "watcher" was revoked/);
    await expect.poll(() => t.handlerEnded.length).toBe(1);
    expect(t.streams.size).toBe(1); // the bystander's stream is untouched
    // And the next call with the key is refused on this replica at once.
    await expect(t.client.listAgents({}, { headers: { authorization: `Bearer ${viewer.key}` } })).rejects.toMatchObject({ code: Code.Unauthenticated });
  });

  it("ends a stream with PermissionDenied when its role binding is taken away", async () => {
    const t = setup();
    const viewer = t.addKey("demoted", "viewer");
    const s = t.watch(viewer.key);
    await s.first;
    t.bindings.splice(0, t.bindings.length);
    await t.changes.changed("key:demoted");
    expect((await s.rest)?.code).toBe(Code.PermissionDenied);
  });

  it("ends a stream whose revocation no notice announced at the next periodic check", async () => {
    const t = setup({ ttlMs: 50, recheckIntervalMs: 100 });
    const viewer = t.addKey("quiet", "viewer");
    const s = t.watch(viewer.key);
    await s.first;
    t.revoke(viewer.id);
    const started = Date.now();
    expect((await s.rest)?.code).toBe(Code.Unauthenticated);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("ends a stream when its OIDC token expires", async () => {
    // The token lasts 300 ms from the call that opens the stream (however slow the machine).
    let validUntilMs: number | undefined;
    const t = setup({
      authenticate: async () => {
        validUntilMs ??= Date.now() + 300;
        if (Date.now() >= validUntilMs) throw new UnauthenticatedError("the OIDC token has expired");
        return { name: "oidc:alice", bindings: [{ identity: "oidc:alice", role: "viewer", namespace: "*" }], validUntilMs };
      },
    });
    const s = t.watch("header.payload.signature");
    await s.first;
    const err = await s.rest;
    expect(err?.code).toBe(Code.Unauthenticated);
    expect(err?.rawMessage).toMatch(/expired/);
    expect(Date.now()).toBeGreaterThanOrEqual(validUntilMs!);
  });

  it("keeps a stream open while the store cannot be read (the next check decides)", async () => {
    const t = setup({ ttlMs: 0 });
    const viewer = t.addKey("patient", "viewer");
    const s = t.watch(viewer.key);
    await s.first;
    t.state.down = true;
    await t.changes.changed("key:patient");
    expect(t.streams.size).toBe(1);
    t.state.down = false;
    t.revoke(viewer.id);
    await t.streams.recheck();
    expect((await s.rest)?.code).toBe(Code.Unauthenticated);
  });

  it("reads a hot key from the store once, not per call", async () => {
    const t = setup();
    const viewer = t.addKey("hot", "viewer");
    for (let i = 0; i < 20; i++) await t.client.listAgents({}, { headers: { authorization: `Bearer ${viewer.key}` } });
    expect(t.state.keyReads).toBe(1);
  });
});

describe("admin interceptor: roles per namespace", () => {
  it("lets a role bound in one namespace act there only: the request's namespace field decides, unary and server stream alike", async () => {
    const t = setup();
    const edge = t.addKey("edge-viewer", "viewer", "edge");
    const auth = { headers: { authorization: `Bearer ${edge.key}` } };
    await expect(t.client.listAgents({ namespace: "edge" }, auth)).resolves.toBeDefined();
    // Empty means "default", where this key holds nothing.
    const refused = await t.client.listAgents({}, auth).then(() => undefined, (err: unknown) => ConnectError.from(err));
    expect(refused?.code).toBe(Code.PermissionDenied);
    expect(refused?.rawMessage).toMatch(/namespace "default".*viewer in namespace "edge"/);
    await expect(t.client.listAgents({ namespace: "other" }, auth)).rejects.toMatchObject({ code: Code.PermissionDenied });
    // A server stream is judged by its one request, which still reaches the handler.
    const watched = t.client.watchAgents({ namespace: "edge" }, auth)[Symbol.asyncIterator]();
    await expect(watched.next()).resolves.toMatchObject({ done: false });
    void watched.return?.();
    const denied = t.client.watchAgents({}, auth)[Symbol.asyncIterator]();
    await expect(denied.next()).rejects.toMatchObject({ code: Code.PermissionDenied });
  });

  it("judges a request that carries its resource whole (CreateGroup's group) in that resource's namespace", async () => {
    const t = setup();
    const edge = t.addKey("edge-operator", "operator", "edge");
    const auth = { headers: { authorization: `Bearer ${edge.key}` } };
    await expect(t.groups.createGroup({ group: { namespace: "edge", name: "g" } }, auth)).resolves.toBeDefined();
    await expect(t.groups.createGroup({ group: { namespace: "", name: "g" } }, auth)).rejects.toMatchObject({ code: Code.PermissionDenied });
    await expect(t.groups.createGroup({ group: { namespace: "prod", name: "g" } }, auth)).rejects.toMatchObject({ code: Code.PermissionDenied });
  });
});
