import { create, toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  AgentSchema,
  CommandKind,
  ConnectionSchema,
  AgentSpecSchema,
  ConfigSource,
  ConnectionType,
  RemoteConfigState,
  type Agent,
} from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { FleetSummarySchema } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { ComponentHealthSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import {
  MAX_AGENT_TYPES,
  RevisionConflictError,
  type AgentRepository,
  type ConnectionRepository,
  type GatewayLeaseRepository,
} from "@fleetplane/agent-service";
import { instanceUidToHex } from "@fleetplane/platform";
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { within } from "../support/within.js";

export interface AgentStoresUnderTest {
  agents: AgentRepository;
  connections: ConnectionRepository;
  leases: GatewayLeaseRepository;
  close(): Promise<void>;
}

/**
 * The behaviour every agent-service store must share, whatever the database.
 * `open` must return empty repositories; it is called before every test.
 *
 * `largeUpdateBatches: false`: the store under test stalls on a bulkWrite of
 * ~100 updateOne statements — FerretDB 1.x driven through the MongoDB code
 * path ("as on MongoDB"), which production never does (connectMongo detects
 * FerretDB and its path sends updateMany: updateByIdOp).
 */
export function agentRepositoryContract(name: string, open: () => Promise<AgentStoresUnderTest>, o: { largeUpdateBatches?: boolean } = {}): void {
  if (o.largeUpdateBatches === false) console.warn(`\n*** SKIPPING the 150-write saveMany case for ${name}: FerretDB 1.x driven through the MongoDB code path stalls on a bulkWrite of ~100 updateOne statements (production never runs that path on FerretDB: updateByIdOp) ***\n`);
  let stores: AgentStoresUnderTest;
  const openFresh = () => {
    beforeEach(async () => {
      stores = await open();
    });
    afterEach(async () => {
      await stores?.close();
    });
  };

  describe(`${name}: agents`, () => {
    openFresh();

    it("lists a group's rollout targets in uid order and in pages, following saves that move an agent and deletes", async () => {
      const inGroup = (group: string, version: number, o: { namespace?: string; rollout?: string; source?: ConfigSource } = {}) =>
        create(AgentSchema, {
          metadata: { instanceUid: new Uint8Array(randomBytes(16)), ...(o.namespace ? { namespace: o.namespace } : {}) },
          spec: { assignment: { source: o.source ?? ConfigSource.GROUP, group, configuration: "c", version, rollout: o.rollout ?? "" } },
        });
      const targets = [inGroup("g", 1), inGroup("g", 2, { rollout: "r1" }), inGroup("g", 1)];
      const others = [inGroup("h", 1), inGroup("g", 1, { namespace: "other" }), inGroup("g", 1, { source: ConfigSource.AGENT })];
      for (const a of [...targets, ...others]) await stores.agents.save(a);
      const expected = targets.map((a) => ({ uid: uidOf(a), version: a.spec!.assignment!.version, rollout: a.spec!.assignment!.rollout })).sort((x, y) => (x.uid < y.uid ? -1 : 1));
      expect(await stores.agents.listGroupTargets("default", "g", { limit: 10 })).toEqual(expected);
      const first = await stores.agents.listGroupTargets("default", "g", { limit: 2 });
      expect([...first, ...(await stores.agents.listGroupTargets("default", "g", { limit: 2, after: first[1]!.uid }))]).toEqual(expected);

      // A pin, a move to another group, a delete: the listing follows each.
      targets[0]!.spec!.assignment!.version = 3;
      targets[0]!.spec!.assignment!.rollout = "r2";
      await stores.agents.save(targets[0]!);
      targets[1]!.spec!.assignment!.group = "h";
      await stores.agents.save(targets[1]!);
      await stores.agents.delete(targets[2]!);
      expect(await stores.agents.listGroupTargets("default", "g", { limit: 10 })).toEqual([{ uid: uidOf(targets[0]!), version: 3, rollout: "r2" }]);
      expect((await stores.agents.listGroupTargets("default", "h", { limit: 10 })).map((t) => t.uid).sort()).toEqual([uidOf(targets[1]!), uidOf(others[0]!)].sort());
    });

    it("lists a group's targets with the key of each one's reported components when asked, following saves", async () => {
      const withComponents = (types: string[] | undefined) =>
        create(AgentSchema, {
          metadata: { instanceUid: new Uint8Array(randomBytes(16)) },
          spec: { assignment: { source: ConfigSource.GROUP, group: "g", configuration: "c", version: 1 } },
          status: { availableComponents: { hash: new Uint8Array([1]), components: types ? { receivers: { subComponentMap: Object.fromEntries(types.map((t) => [t, {}])) } } : {} } },
        });
      const [otlp, alsoOtlp, nop, silent] = [withComponents(["otlp"]), withComponents(["otlp"]), withComponents(["nop"]), withComponents(undefined)];
      for (const a of [otlp!, alsoOtlp!, nop!, silent!]) await stores.agents.save(a);
      const keys = async () => new Map((await stores.agents.listGroupTargets("default", "g", { limit: 10, components: true })).map((t) => [t.uid, t.components]));
      const listed = await keys();
      expect(listed.size).toBe(4);
      expect(listed.get(uidOf(otlp!))).toMatch(/^[0-9a-f]{32}$/);
      expect(listed.get(uidOf(alsoOtlp!))).toBe(listed.get(uidOf(otlp!)));
      expect(listed.get(uidOf(nop!))).not.toBe(listed.get(uidOf(otlp!)));
      expect(listed.get(uidOf(silent!))).toBe("");
      // Without asking, the listing is as before: no key.
      expect((await stores.agents.listGroupTargets("default", "g", { limit: 10 })).every((t) => !("components" in t))).toBe(true);
      // A report of other components moves the key.
      otlp!.status!.availableComponents = withComponents(["nop"]).status!.availableComponents!;
      await stores.agents.save(otlp!);
      expect((await keys()).get(uidOf(otlp!))).toBe(listed.get(uidOf(nop!)));
    });

    it("lists stored revisions of a namespace's agents or of the named ones, in uid order and in pages, following saves and deletes", async () => {
      const inNamespace = (namespace?: string) => create(AgentSchema, { metadata: { instanceUid: new Uint8Array(randomBytes(16)), ...(namespace ? { namespace } : {}) } });
      const mine = [inNamespace(), inNamespace("default"), inNamespace(), inNamespace()];
      const other = inNamespace("other");
      for (const a of [...mine, other]) await stores.agents.save(a);
      await stores.agents.save(mine[1]!);
      const expected = () => mine.map((a) => ({ uid: uidOf(a), revision: a.revision })).sort((x, y) => (x.uid < y.uid ? -1 : 1));
      expect(expected().map((r) => r.revision)).toContain(2n);
      expect(await stores.agents.listRevisions({ namespace: "default", limit: 10 })).toEqual(expected());
      const first = await stores.agents.listRevisions({ namespace: "default", limit: 2 });
      expect([...first, ...(await stores.agents.listRevisions({ namespace: "default", limit: 10, after: first[1]!.uid }))]).toEqual(expected());

      // Named: the other namespace's agent and one never stored are left out.
      const named = [uidOf(mine[2]!), uidOf(other), "f".repeat(32), uidOf(mine[0]!)];
      const namedExpected = expected().filter((r) => named.includes(r.uid));
      expect(await stores.agents.listRevisions({ namespace: "default", instanceUids: named, limit: 10 })).toEqual(namedExpected);
      expect(await stores.agents.listRevisions({ namespace: "default", instanceUids: named, limit: 1 })).toEqual(namedExpected.slice(0, 1));
      expect(await stores.agents.listRevisions({ namespace: "other", instanceUids: named, limit: 10 })).toEqual([{ uid: uidOf(other), revision: 1n }]);

      // A save moves the revision; a delete takes the agent out.
      await stores.agents.save(mine[2]!);
      await stores.agents.delete(mine[3]!);
      mine.splice(3, 1);
      expect(await stores.agents.listRevisions({ namespace: "default", limit: 10 })).toEqual(expected());
      expect(await stores.agents.listRevisions({ namespace: "default", limit: 0 })).toEqual([]);
    });

    it("getNewer returns the agent only when its stored revision is above the one given", async () => {
      const agent = detailedAgent();
      await stores.agents.save(agent);
      await stores.agents.save(agent);
      expect(agent.revision).toBe(2n);
      expect(await stores.agents.getNewer(uidOf(agent), 2n)).toBeUndefined();
      expect(await stores.agents.getNewer(uidOf(agent), 3n)).toBeUndefined();
      expectSameMessage(AgentSchema, await stores.agents.getNewer(uidOf(agent), 1n), agent);
      expect(await stores.agents.getNewer("f".repeat(32), 0n)).toBeUndefined();
    });

    it("returns a saved agent with every field intact and its revision incremented", async () => {
      const agent = detailedAgent();
      await stores.agents.save(agent);
      expect(agent.revision).toBe(1n);

      const stored = await stores.agents.get(uidOf(agent));
      expectSameMessage(AgentSchema, stored, agent);

      stored!.status!.sequenceNum = 43n;
      await stores.agents.save(stored!);
      expect(stored!.revision).toBe(2n);
      const again = await stores.agents.get(uidOf(agent));
      expect(again?.revision).toBe(2n);
      expect(again?.status?.sequenceNum).toBe(43n);
    });

    it("returns undefined for an agent it never stored", async () => {
      expect(await stores.agents.get(hexUid())).toBeUndefined();
    });

    it("rejects creating an agent whose uid is already stored", async () => {
      const first = agentWith({ gatewayId: "gw-first" });
      await stores.agents.save(first);

      const second = agentWith({ uid: first.metadata!.instanceUid, gatewayId: "gw-second" });
      await expect(stores.agents.save(second)).rejects.toMatchObject({
        name: "RevisionConflictError",
        instanceUid: uidOf(first),
        expected: 0n,
      });
      expect(second.revision).toBe(0n);
      const stored = await stores.agents.get(uidOf(first));
      expect(stored?.status?.gatewayId).toBe("gw-first");
      expect(stored?.revision).toBe(1n);
    });

    it("deletes an agent read at its current revision, and refuses a delete based on a stale one", async () => {
      const agent = agentWith({ gatewayId: "gw-0" });
      await stores.agents.save(agent);
      const stale = (await stores.agents.get(uidOf(agent)))!;
      await stores.agents.save(agent);
      await expect(stores.agents.delete(stale)).rejects.toBeInstanceOf(RevisionConflictError);
      expect(await stores.agents.get(uidOf(agent))).toBeDefined();
      await stores.agents.delete(agent);
      expect(await stores.agents.get(uidOf(agent))).toBeUndefined();
      expect(await stores.agents.list({ limit: 10 })).toEqual([]);
    });

    it("rejects a save based on a stale revision and keeps the newer write", async () => {
      const agent = agentWith({ gatewayId: "gw-0" });
      await stores.agents.save(agent);
      const copyA = (await stores.agents.get(uidOf(agent)))!;
      const copyB = (await stores.agents.get(uidOf(agent)))!;

      copyA.status!.gatewayId = "gw-a";
      await stores.agents.save(copyA);
      copyB.status!.gatewayId = "gw-b";
      const conflict = stores.agents.save(copyB);
      await expect(conflict).rejects.toBeInstanceOf(RevisionConflictError);
      await expect(conflict).rejects.toMatchObject({ instanceUid: uidOf(agent), expected: 1n });
      expect(copyB.revision).toBe(1n);

      const stored = await stores.agents.get(uidOf(agent));
      expect(stored?.status?.gatewayId).toBe("gw-a");
      expect(stored?.revision).toBe(2n);
    });

    it("saves a batch in one call, writing only the agents whose revision still holds and saying which, with what queries read following it", async () => {
      const [a, b, c] = [agentWith({ gatewayId: "gw-0" }), agentWith({ gatewayId: "gw-0" }), agentWith({ gatewayId: "gw-0" })];
      for (const x of [a!, b!, c!]) await stores.agents.save(x);
      const copies = await Promise.all([a!, b!, c!].map(async (x) => (await stores.agents.get(uidOf(x)))!));
      // Another writer moves b in the middle of the batch; a never-stored agent is in it too.
      const other = (await stores.agents.get(uidOf(b!)))!;
      other.status!.gatewayId = "gw-other";
      await stores.agents.save(other);
      const never = agentWith({ gatewayId: "gw-0" });
      never.revision = 1n;
      for (const x of copies) x.status!.gatewayId = "gw-batch";
      expect(await stores.agents.saveMany([copies[0]!, copies[1]!, never, copies[2]!])).toEqual([true, false, false, true]);
      expect(copies.map((x) => x.revision)).toEqual([2n, 1n, 2n]);
      expect((await stores.agents.get(uidOf(b!)))?.status?.gatewayId).toBe("gw-other");
      expect(await stores.agents.get(uidOf(never))).toBeUndefined();
      for (const x of [a!, c!]) expect(await stores.agents.get(uidOf(x))).toMatchObject({ revision: 2n, status: { gatewayId: "gw-batch" } });
      expect((await stores.agents.list({ limit: 10, gatewayId: "gw-batch" })).map(uidOf).sort()).toEqual([uidOf(a!), uidOf(c!)].sort());
      expect(await stores.agents.saveMany([])).toEqual([]);
      // None is created: an agent at revision 0 (never stored) is not written by a batch.
      const fresh = agentWith({ gatewayId: "gw-0" });
      expect(await stores.agents.saveMany([fresh])).toEqual([false]);
      expect(await stores.agents.get(uidOf(fresh))).toBeUndefined();
    });

    it.skipIf(o.largeUpdateBatches === false)("saves a batch of 150 agents in one call, and the store answers on (FerretDB 1.x stalled for good on a bulkWrite of ~100 updateOne statements)", async () => {
      const many = Array.from({ length: 150 }, () => agentWith({ gatewayId: "gw-0" }));
      const uids = await saveAll(stores.agents, many);
      const copies = await stores.agents.list({ instanceUids: uids, limit: uids.length });
      expect(copies).toHaveLength(150);
      for (const x of copies) x.status!.gatewayId = "gw-big-batch";
      expect(await within(stores.agents.saveMany(copies), 20_000, "saveMany of 150 agents")).toEqual(copies.map(() => true));
      expect(await within(stores.agents.list({ limit: 200, gatewayId: "gw-big-batch" }), 20_000, "a read after the batch")).toHaveLength(150);
    }, 60_000);

    it("lists agents in uid order, a page at a time after the last uid of the previous page", async () => {
      const uids = await saveAll(stores.agents, Array.from({ length: 7 }, () => agentWith({})));
      const sorted = [...uids].sort();

      const page1 = await stores.agents.list({ limit: 3 });
      const page2 = await stores.agents.list({ limit: 3, after: uidOf(page1.at(-1)!) });
      const page3 = await stores.agents.list({ limit: 3, after: uidOf(page2.at(-1)!) });
      expect(page1.map(uidOf)).toEqual(sorted.slice(0, 3));
      expect(page2.map(uidOf)).toEqual(sorted.slice(3, 6));
      expect(page3.map(uidOf)).toEqual(sorted.slice(6));
      expect(await stores.agents.list({ limit: 3, after: sorted[6] })).toEqual([]);
      // `after` need not be a stored uid: it is a position in uid order.
      const between = `${sorted[1]}z`;
      expect((await stores.agents.list({ limit: 2, after: between })).map(uidOf)).toEqual(sorted.slice(2, 4));
    });

    it("filters by connected, counting an agent without status as disconnected", async () => {
      const [on, off, unknown] = await saveAll(stores.agents, [
        agentWith({ connected: true }),
        agentWith({ connected: false }),
        agentWith({ withoutStatus: true }),
      ]);
      expect(uids(await stores.agents.list({ limit: 10, connected: true }))).toEqual([on]);
      expect(uids(await stores.agents.list({ limit: 10, connected: false }))).toEqual([off, unknown].sort());
    });

    it("filters by gateway, alone and with connected", async () => {
      const [a1, a2, b, none] = await saveAll(stores.agents, [
        agentWith({ gatewayId: "gw-a", connected: true }),
        agentWith({ gatewayId: "gw-a", connected: false }),
        agentWith({ gatewayId: "gw-b", connected: true }),
        agentWith({ withoutStatus: true }),
      ]);
      expect(uids(await stores.agents.list({ limit: 10, gatewayId: "gw-a" }))).toEqual([a1, a2].sort());
      expect(uids(await stores.agents.list({ limit: 10, gatewayId: "gw-a", connected: true }))).toEqual([a1]);
      expect(uids(await stores.agents.list({ limit: 10, gatewayId: "gw-b" }))).toEqual([b]);
      expect(uids(await stores.agents.list({ limit: 10, gatewayId: "" }))).toEqual([none]);
      expect(await stores.agents.list({ limit: 10, gatewayId: "gw-c" })).toEqual([]);
    });

    it("filters by string attributes, all of which must match, whatever characters the keys contain", async () => {
      const [checkoutProd, checkoutStaging, cartProd] = await saveAll(stores.agents, [
        agentWith({
          identifying: { "service.name": "checkout" },
          nonIdentifying: { $env: "prod", "host.name": "h1" },
          intAttributes: { replicas: 3n },
        }),
        agentWith({ identifying: { "service.name": "checkout" }, nonIdentifying: { $env: "staging" } }),
        agentWith({ identifying: { "service.name": "cart" }, nonIdentifying: { $env: "prod" }, connected: true }),
      ]);
      const byAttributes = async (attributes: Record<string, string>, connected?: boolean) =>
        uids(await stores.agents.list({ limit: 10, attributes, ...(connected === undefined ? {} : { connected }) }));

      expect(await byAttributes({ "service.name": "checkout" })).toEqual([checkoutProd, checkoutStaging].sort());
      expect(await byAttributes({ "service.name": "checkout", $env: "prod" })).toEqual([checkoutProd]);
      expect(await byAttributes({ $env: "prod" })).toEqual([checkoutProd, cartProd].sort());
      expect(await byAttributes({ $env: "prod" }, true)).toEqual([cartProd]);
      expect(await byAttributes({ "host.name": "h1" })).toEqual([checkoutProd]);
      // Only string-valued attributes take part; a value must match exactly.
      expect(await byAttributes({ replicas: "3" })).toEqual([]);
      expect(await byAttributes({ "service.name": "check" })).toEqual([]);
      expect(await byAttributes({ service: "checkout" })).toEqual([]);
    });

    it("filters on what was saved last, not on what was first stored", async () => {
      const agent = agentWith({ gatewayId: "gw-a", connected: true, nonIdentifying: { $env: "staging" } });
      await stores.agents.save(agent);
      agent.status!.gatewayId = "gw-b";
      agent.status!.connected = false;
      agent.metadata!.description!.nonIdentifyingAttributes[0]!.value!.value = { case: "stringValue", value: "prod" };
      await stores.agents.save(agent);

      const only = [uidOf(agent)];
      expect(uids(await stores.agents.list({ limit: 10, gatewayId: "gw-b", connected: false }))).toEqual(only);
      expect(uids(await stores.agents.list({ limit: 10, attributes: { $env: "prod" } }))).toEqual(only);
      expect(await stores.agents.list({ limit: 10, gatewayId: "gw-a" })).toEqual([]);
      expect(await stores.agents.list({ limit: 10, attributes: { $env: "staging" } })).toEqual([]);
    });

    it("keeps filling the page when `where` drops agents", async () => {
      const saved = Array.from({ length: 12 }, (_, i) => agentWith({ sequenceNum: BigInt(i) }));
      await saveAll(stores.agents, saved);
      const even = (a: Agent) => a.status!.sequenceNum % 2n === 0n;
      const kept = saved.filter(even).map(uidOf).sort();

      const page1 = await stores.agents.list({ limit: 4, where: even });
      const page2 = await stores.agents.list({ limit: 4, where: even, after: uidOf(page1.at(-1)!) });
      expect(uids(page1)).toEqual(kept.slice(0, 4));
      expect(uids(page2)).toEqual(kept.slice(4));
    });

    it("finds the one agent `where` keeps even when it comes after many that are dropped", async () => {
      // More agents than a store would fetch in one batch, so a store that
      // filters after fetching must go back for more.
      const saved = await saveAll(
        stores.agents,
        Array.from({ length: 230 }, () => agentWith({ connected: true })),
      );
      const last = [...saved].sort().at(-1)!;
      const found = await stores.agents.list({ limit: 5, connected: true, where: (a) => uidOf(a) === last });
      expect(uids(found)).toEqual([last]);
    });

    it("summarizes the fleet as ListAgents' filters count it, from what was saved last", async () => {
      expect(toJson(FleetSummarySchema, await stores.agents.summarize())).toEqual({});

      const typed = (name: string, version: string, o: Parameters<typeof agentWith>[0] = {}) =>
        agentWith({ ...o, identifying: { "service.name": name }, nonIdentifying: { "service.version": version } });
      const withConfig = (agent: Agent, status: RemoteConfigState) => {
        agent.spec = create(AgentSpecSchema, { remoteConfig: { data: { hash: new Uint8Array([1]), status } } });
        return agent;
      };
      const healthy = (agent: Agent, ok: boolean) => {
        agent.status!.health = create(ComponentHealthSchema, { healthy: ok });
        return agent;
      };
      const agents = [
        healthy(withConfig(typed("checkout", "1.2.0", { connected: true }), RemoteConfigState.APPLIED), true),
        healthy(withConfig(typed("checkout", "1.2.0", { connected: true }), RemoteConfigState.FAILED), false),
        healthy(typed("checkout", "1.3.0", { connected: true }), true),
        typed("cart", "0.9.0"),
        agentWith({ withoutStatus: true }), // no attributes, status or config at all
      ];
      await saveAll(stores.agents, agents);
      // A later save counts, not the first one.
      const moved = agents[3]!;
      withConfig(moved, RemoteConfigState.APPLYING);
      moved.status!.connected = true;
      await stores.agents.save(moved);

      const summary = await stores.agents.summarize();
      expect(toJson(FleetSummarySchema, summary)).toEqual({
        total: "5",
        connected: "4",
        healthy: "2",
        withRemoteConfig: "3",
        remoteConfigStates: [
          { count: "2" }, // REMOTE_CONFIG_STATE_UNSET, the default, is implicit in JSON
          { state: "REMOTE_CONFIG_STATE_APPLIED", count: "1" },
          { state: "REMOTE_CONFIG_STATE_APPLYING", count: "1" },
          { state: "REMOTE_CONFIG_STATE_FAILED", count: "1" },
        ],
        agentTypes: [
          { name: "checkout", version: "1.2.0", count: "2" },
          { count: "1" }, // no name, no version
          { name: "cart", version: "0.9.0", count: "1" },
          { name: "checkout", version: "1.3.0", count: "1" },
        ],
      });
    });

    it("lists the largest agent types and counts the rest as other", async () => {
      // More distinct versions than the summary lists: one big group, then singles.
      const agents = [agentWith({ identifying: { "service.name": "big" } }), agentWith({ identifying: { "service.name": "big" } })];
      for (let i = 0; i < MAX_AGENT_TYPES + 5; i++) agents.push(agentWith({ identifying: { "service.name": "small", "service.version": `v${String(i).padStart(3, "0")}` } }));
      await saveAll(stores.agents, agents);
      const summary = await stores.agents.summarize();
      expect(summary.total).toBe(BigInt(agents.length));
      expect(summary.agentTypes).toHaveLength(MAX_AGENT_TYPES);
      expect(summary.agentTypes[0]).toMatchObject({ name: "big", version: "", count: 2n });
      expect(summary.agentTypes[1]).toMatchObject({ name: "small", version: "v000", count: 1n });
      expect(summary.otherAgentTypes).toBe(6n);
    });

    it("answers ping", async () => {
      await expect(stores.agents.ping()).resolves.toBeUndefined();
    });
  });

  describe(`${name}: agents disconnected long ago (retention)`, () => {
    openFresh();

    it("lists agents not connected since before a time, longest disconnected first, a page at a time", async () => {
      const t0 = 1_767_225_600_000;
      const old = [disconnectedAt(t0 + 3_000), disconnectedAt(t0 + 1_000), disconnectedAt(t0 + 2_000), disconnectedAt(t0 + 2_000)];
      const recent = disconnectedAt(t0 + 10_000);
      const connected = agentWith({ connected: true });
      const neverConnected = create(AgentSchema, { metadata: { instanceUid: new Uint8Array(randomBytes(16)), createdAt: timestampFromMs(t0 + 500) }, status: {} });
      await saveAll(stores.agents, [...old, recent, connected, neverConnected]);

      // Oldest first; the two disconnected at the same time in uid order; a never-connected agent counts from its creation.
      const tied = uids(old.slice(2)).sort();
      const expected = [uidOf(neverConnected), uidOf(old[1]!), ...tied, uidOf(old[0]!)];
      const pages: string[][] = [];
      let after: { since: number; uid: string } | undefined;
      for (;;) {
        const page = await stores.agents.listDisconnected({ before: t0 + 5_000, limit: 2, ...(after ? { after } : {}) });
        if (page.length === 0) break;
        pages.push(uids(page));
        const last = page.at(-1)!;
        after = { since: timestampMs(last.status!.disconnectedAt ?? last.metadata!.createdAt!), uid: uidOf(last) };
      }
      expect(pages).toEqual([expected.slice(0, 2), expected.slice(2, 4), expected.slice(4)]);
      expect(await stores.agents.listDisconnected({ before: t0 + 1_000, limit: 10 })).toHaveLength(1); // before is exclusive
      expect(uids(await stores.agents.listDisconnected({ before: t0 + 60_000, limit: 10 }))).toContain(uidOf(recent));
    });

    it("follows saves and deletes: an agent that reconnects, disconnects again or is deleted moves or leaves", async () => {
      const t0 = 1_767_225_600_000;
      const [a, b, c] = [disconnectedAt(t0), disconnectedAt(t0 + 1), disconnectedAt(t0 + 2)];
      await saveAll(stores.agents, [a!, b!, c!]);
      const listed = async () => uids(await stores.agents.listDisconnected({ before: t0 + 5_000, limit: 10 }));
      expect(await listed()).toEqual(uids([a!, b!, c!]));

      a!.status!.connected = true; // reconnected
      await stores.agents.save(a!);
      b!.status!.disconnectedAt = timestampFromMs(t0 + 9_000); // connected and disconnected again since
      await stores.agents.save(b!);
      await stores.agents.delete(c!);
      expect(await listed()).toEqual([]);
      expect(uids(await stores.agents.listDisconnected({ before: t0 + 10_000, limit: 10 }))).toEqual([uidOf(b!)]);

      a!.status!.connected = false;
      a!.status!.disconnectedAt = timestampFromMs(t0 + 9_500);
      await stores.agents.save(a!);
      expect(uids(await stores.agents.listDisconnected({ before: t0 + 10_000, limit: 10 }))).toEqual(uids([b!, a!]));
    });

    it("counts the stored agents", async () => {
      expect(await stores.agents.count()).toBe(0);
      const agents = [agentWith({ connected: true }), disconnectedAt(1_000), agentWith({})];
      await saveAll(stores.agents, agents);
      await stores.agents.save(agents[0]!); // a second save is not a second agent
      expect(await stores.agents.count()).toBe(3);
      await stores.agents.delete(agents[1]!);
      expect(await stores.agents.count()).toBe(2);
    });

    it("counts the stored agents of each namespace, through saves and deletes", async () => {
      expect(await stores.agents.countByNamespace()).toEqual(new Map());
      const inNamespace = (namespace: string) => {
        const agent = agentWith({});
        agent.metadata!.namespace = namespace;
        return agent;
      };
      const agents = [inNamespace("prod"), inNamespace("prod"), inNamespace("dev"), inNamespace("")];
      await saveAll(stores.agents, agents);
      await stores.agents.save(agents[0]!); // a second save is not a second agent
      expect(await stores.agents.countByNamespace()).toEqual(new Map([["prod", 2], ["dev", 1], ["default", 1]]));
      await stores.agents.delete(agents[2]!);
      await stores.agents.delete(agents[1]!);
      expect(await stores.agents.countByNamespace()).toEqual(new Map([["prod", 1], ["default", 1]]));
    });
  });

  describe(`${name}: connections`, () => {
    openFresh();

    it("saves, replaces, gets and deletes a connection", async () => {
      const conn = connectionWith("conn-1", "gw-a");
      await stores.connections.save(conn);
      expectSameMessage(ConnectionSchema, await stores.connections.get("conn-1"), conn);

      conn.remoteAddress = "10.0.0.9:4711";
      await stores.connections.save(conn);
      expectSameMessage(ConnectionSchema, await stores.connections.get("conn-1"), conn);
      expect(await stores.connections.list({ limit: 10 })).toHaveLength(1);

      await stores.connections.delete("conn-1");
      expect(await stores.connections.get("conn-1")).toBeUndefined();
      await stores.connections.delete("conn-1"); // deleting what is gone is not an error
      expect(await stores.connections.get("never-saved")).toBeUndefined();
    });

    it("lists a gateway's connections in id order, a page at a time", async () => {
      const ids = ["c-05", "c-01", "c-04", "c-02", "c-03"];
      for (const id of ids) await stores.connections.save(connectionWith(id, "gw-a"));
      for (const id of ["c-00", "c-06"]) await stores.connections.save(connectionWith(id, "gw-b"));

      const page1 = await stores.connections.list({ gatewayId: "gw-a", limit: 2 });
      const page2 = await stores.connections.list({ gatewayId: "gw-a", limit: 2, after: page1.at(-1)!.id });
      const page3 = await stores.connections.list({ gatewayId: "gw-a", limit: 2, after: page2.at(-1)!.id });
      expect([page1, page2, page3].map((page) => page.map((c) => c.id))).toEqual([["c-01", "c-02"], ["c-03", "c-04"], ["c-05"]]);
      expect((await stores.connections.list({ limit: 10 })).map((c) => c.id)).toEqual([
        "c-00", "c-01", "c-02", "c-03", "c-04", "c-05", "c-06",
      ]);
      expect((await stores.connections.list({ gatewayId: "gw-b", limit: 10, after: "c-00" })).map((c) => c.id)).toEqual(["c-06"]);
      expect(await stores.connections.list({ gatewayId: "gw-c", limit: 10 })).toEqual([]);
    });

    it("takes concurrent saves of one new connection without failing", async () => {
      // Two gateways' messages about a new connection can race to create it.
      for (let round = 0; round < 5; round++) {
        const versions = [1, 2, 3].map((n) => ({ ...connectionWith(`race-${round}`, "gw-a"), remoteAddress: `10.0.0.${n}:4711` }));
        await Promise.all(versions.map((c) => stores.connections.save(c)));
        const stored = await stores.connections.get(`race-${round}`);
        expect(versions.map((c) => c.remoteAddress)).toContain(stored?.remoteAddress);
      }
      expect(await stores.connections.list({ limit: 10 })).toHaveLength(5);
    });
  });

  describe(`${name}: gateway leases`, () => {
    openFresh();

    it("reports leases that ended before now, at most `limit`, until renewed or released", async () => {
      await stores.leases.renew("gw-a", 1_000, "e1", 0, "h");
      await stores.leases.renew("gw-b", 2_000, "e1", 0, "h");
      await stores.leases.renew("gw-c", 3_000, "e1", 0, "h");
      const expired = async (now: number, limit = 10) => (await stores.leases.expired(now, limit)).sort();

      expect(await expired(500)).toEqual([]);
      expect(await expired(2_500)).toEqual(["gw-a", "gw-b"]);
      expect(await stores.leases.expired(2_500, 1)).toHaveLength(1);
      expect(await expired(3_000)).toEqual(["gw-a", "gw-b"]); // a lease ending exactly now is still held

      await stores.leases.renew("gw-a", 5_000, "e1", 2_500, "h");
      expect(await expired(2_500)).toEqual(["gw-b"]);

      await stores.leases.release("gw-b");
      expect(await expired(2_500)).toEqual([]);
      expect(await expired(10_000)).toEqual(["gw-a", "gw-c"]);
      await stores.leases.release("gw-b"); // releasing twice is not an error
    });

    it("releases a reaped lease only while it is still expired; one renewed meanwhile is kept under a new hold", async () => {
      await stores.leases.renew("gw-a", 1_000, "e1", 0, "h1");
      await stores.leases.releaseReaped("gw-a", 500, "h2"); // renewed meanwhile, in effect: kept, held anew
      expect(await stores.leases.expired(2_000, 10)).toEqual(["gw-a"]);
      expect(await stores.leases.renew("gw-a", 1_500, "e1", 800, "h3")).toEqual({ previousEpoch: "e1", hold: "h2" });
      await stores.leases.releaseReaped("gw-a", 2_000, "h4");
      expect(await stores.leases.expired(2_000, 10)).toEqual([]);
      await stores.leases.releaseReaped("gw-missing", 2_000, "h5"); // nothing to release is not an error
      expect(await stores.leases.expired(10_000, 10)).toEqual([]); // and makes no lease
    });

    it("takes concurrent renewals of a new gateway's lease without failing", async () => {
      for (let round = 0; round < 5; round++) {
        await Promise.all([1_000, 2_000, 3_000].map((expiresAt) => stores.leases.renew(`gw-${round}`, expiresAt, "e1", 0, "h")));
      }
      expect((await stores.leases.expired(10_000, 10)).sort()).toEqual(["gw-0", "gw-1", "gw-2", "gw-3", "gw-4"]);
    });

    it("returns the epoch that held the lease before each renewal: a new one once, and none after a release", async () => {
      expect((await stores.leases.renew("gw-a", 1_000, "e1", 0, "h")).previousEpoch).toBeUndefined();
      expect((await stores.leases.renew("gw-a", 2_000, "e1", 900, "h")).previousEpoch).toBe("e1");
      expect((await stores.leases.renew("gw-a", 3_000, "e2", 1_900, "h")).previousEpoch).toBe("e1");
      expect((await stores.leases.renew("gw-a", 4_000, "e2", 2_900, "h")).previousEpoch).toBe("e2");
      expect(await stores.leases.expired(3_500, 10)).toEqual([]);
      await stores.leases.release("gw-a");
      expect((await stores.leases.renew("gw-a", 6_000, "e4", 5_000, "h")).previousEpoch).toBeUndefined();
    });

    it("keeps the hold while renewals of one epoch find its lease live, late or not; starts a new one when none was, another epoch's was, or it had run out", async () => {
      const renew = async (expiresAt: number, epoch: string, now: number, hold: string) => (await stores.leases.renew("gw-a", expiresAt, epoch, now, hold)).hold;
      expect(await renew(1_500, "e1", 0, "h1")).toBe("h1"); // none stored
      expect(await renew(2_500, "e1", 1_000, "x")).toBe("h1"); // on time
      expect(await renew(4_000, "e1", 2_500, "x")).toBe("h1"); // late, but the lease ends exactly now: still held
      expect(await renew(5_500, "e2", 3_000, "h2")).toBe("h2"); // another epoch's lease (a restarted gateway)
      expect(await renew(8_000, "e2", 5_501, "h3")).toBe("h3"); // it had run out: the reaper may be at its agents
      expect(await renew(9_000, "e2", 7_000, "x")).toBe("h3");
      await stores.leases.release("gw-a");
      expect(await renew(12_000, "e2", 9_000, "h4")).toBe("h4"); // released (or reaped): none stored
    });

    it("keeps epoch-millisecond deadlines exactly", async () => {
      const now = Date.now();
      await stores.leases.renew("gw-a", now + 15_000, "e1", now, "h");
      expect(await stores.leases.expired(now + 15_000, 10)).toEqual([]);
      expect(await stores.leases.expired(now + 15_001, 10)).toEqual(["gw-a"]);
    });
  });
}

/**
 * Compares messages as protobuf sees them: a store may hand bytes fields back
 * as Node Buffers, which are Uint8Arrays too but not to toEqual.
 */
function expectSameMessage<Desc extends DescMessage>(schema: Desc, actual: MessageShape<Desc> | undefined, expected: MessageShape<Desc>): void {
  expect(actual && toJson(schema, actual)).toEqual(toJson(schema, expected));
}

function hexUid(): string {
  return randomBytes(16).toString("hex");
}

function uidOf(agent: Agent): string {
  return instanceUidToHex(agent.metadata!.instanceUid);
}

function uids(agents: Agent[]): string[] {
  return agents.map(uidOf);
}

/** Saves agents one by one (they are in random uid order) and returns their uids in the same order. */
async function saveAll(repo: AgentRepository, agents: Agent[]): Promise<string[]> {
  for (const agent of agents) await repo.save(agent);
  return agents.map(uidOf);
}

const stringValue = (value: string) => ({ value: { case: "stringValue" as const, value } });

function agentWith(o: {
  uid?: Uint8Array;
  connected?: boolean;
  gatewayId?: string;
  sequenceNum?: bigint;
  withoutStatus?: boolean;
  identifying?: Record<string, string>;
  nonIdentifying?: Record<string, string>;
  intAttributes?: Record<string, bigint>;
}): Agent {
  return create(AgentSchema, {
    metadata: {
      instanceUid: o.uid ?? new Uint8Array(randomBytes(16)),
      description: {
        identifyingAttributes: Object.entries(o.identifying ?? {}).map(([key, v]) => ({ key, value: stringValue(v) })),
        nonIdentifyingAttributes: [
          ...Object.entries(o.nonIdentifying ?? {}).map(([key, v]) => ({ key, value: stringValue(v) })),
          ...Object.entries(o.intAttributes ?? {}).map(([key, v]) => ({ key, value: { value: { case: "intValue" as const, value: v } } })),
        ],
      },
    },
    ...(o.withoutStatus
      ? {}
      : { status: { connected: o.connected ?? false, gatewayId: o.gatewayId ?? "gw-default", sequenceNum: o.sequenceNum ?? 0n } }),
  });
}

/** An agent with every part of the aggregate filled in, to prove nothing is lost on the way through a store. */
function detailedAgent(): Agent {
  const at = timestampFromMs(1_767_225_600_123);
  return create(AgentSchema, {
    metadata: {
      instanceUid: new Uint8Array(randomBytes(16)),
      description: {
        identifyingAttributes: [
          { key: "service.name", value: stringValue("checkout") },
          { key: "service.instance.id", value: stringValue("checkout-7f9") },
        ],
        nonIdentifyingAttributes: [
          { key: "os.type", value: stringValue("linux") },
          { key: "$odd.key", value: stringValue("still \u0000 fine ✓") },
          { key: "cpu.count", value: { value: { case: "intValue", value: 8n } } },
          { key: "debug", value: { value: { case: "boolValue", value: true } } },
        ],
      },
      capabilities: 0x1fffn,
      customCapabilities: { capabilities: ["io.fleetplane.ping"] },
      createdAt: at,
    },
    spec: {
      remoteConfig: {
        data: {
          config: { configMap: { "": { body: new TextEncoder().encode("receivers: {}\n"), contentType: "text/yaml" } } },
          hash: new Uint8Array(randomBytes(32)),
          status: RemoteConfigState.APPLIED,
          updatedAt: at,
          updatedBy: "alice@example.com",
        },
        lastErrorMessage: "",
      },
    },
    commands: [
      { id: "0193f0c5a1b27c3d8e9f001122334455", kind: CommandKind.REMOTE_CONFIG_UPDATED, configHash: new Uint8Array([1, 2, 3]), createdAt: at, requestedBy: "bob" },
    ],
    status: {
      connected: true,
      sequenceNum: 42n,
      lastSeenAt: at,
      connectionType: ConnectionType.WEBSOCKET,
      connectionId: "conn-42",
      gatewayId: "gw-a",
      connectedAt: at,
      heartbeatIntervalSeconds: 30n,
      health: { healthy: true, startTimeUnixNano: 1_767_225_600_123_456_789n, status: "running" },
    },
  });
}

/** A disconnected agent, disconnected at `at` (epoch ms). */
function disconnectedAt(at: number): Agent {
  const agent = agentWith({ connected: false });
  agent.status!.disconnectedAt = timestampFromMs(at);
  return agent;
}

function connectionWith(id: string, gatewayId: string) {
  return create(ConnectionSchema, {
    id,
    type: ConnectionType.HTTP,
    gatewayId,
    instanceUid: new Uint8Array(randomBytes(16)),
    remoteAddress: "10.0.0.1:51515",
    openedAt: timestampFromMs(1_767_225_600_000),
  });
}
