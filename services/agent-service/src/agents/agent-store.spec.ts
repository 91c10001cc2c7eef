import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { AgentStatusSchema, ConnectionSchema, ConnectionType, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";
import { newAgent, report } from "./agent-model.js";
import type { AgentRepository } from "./agent-repository.js";
import type { AgentStore, Persist } from "./agent-store.js";
import { temporaryAgentStore } from "./temporary-agent-store.js";

/**
 * An AgentStore over the embedded repository, counting what reaches the
 * repository. `slowSaves`: each save waits a macrotask first, so writes can
 * overlap; `calls.overlapping` counts saves that started while another save
 * of the same agent was in flight.
 */
function setup(o: { slowSaves?: boolean; livenessWriteMs?: number; now?: () => number } = {}) {
  const calls = { gets: 0, newer: 0, saves: 0, overlapping: 0 };
  const inFlight = new Set<string>();
  const { store, repository } = temporaryAgentStore({
    wrap: (repository): AgentRepository => ({
      ...repository,
      get: (uid) => (calls.gets++, repository.get(uid)),
      getNewer: (uid, revision) => (calls.newer++, repository.getNewer(uid, revision)),
      save: async (agent) => {
        calls.saves++;
        const uid = instanceUidToHex(agent.metadata!.instanceUid);
        if (inFlight.has(uid)) calls.overlapping++;
        inFlight.add(uid);
        try {
          if (o.slowSaves) await new Promise((r) => setTimeout(r, 5));
          await repository.save(agent);
        } finally {
          inFlight.delete(uid);
        }
      },
    }),
    // A flush interval far beyond any test: flushes happen when a test asks.
    livenessFlushMs: 3_600_000,
    // Unless a test says otherwise, every heartbeat waits for the next flush.
    livenessWriteMs: o.livenessWriteMs ?? 0,
    ...(o.now ? { now: o.now } : {}),
  });
  return { store, repository, calls };
}

const connection = create(ConnectionSchema, { id: "gw/ws/1", type: ConnectionType.WEBSOCKET, gatewayId: "gw" });

/** Applies an agent's report with sequence number `seq` and stores it as `persist` says. */
function reportAs(s: AgentStore, uid: Uint8Array, seq: bigint, persist: Persist) {
  return s.mutate(instanceUidToHex(uid), { create: true, serve: true }, (agent, known) => {
    report(agent, create(AgentToServerSchema, { instanceUid: uid, sequenceNum: seq }), connection, { now: 1_000 + Number(seq), known });
    return { persist, result: agent.revision };
  });
}

describe("the agent store", () => {
  it("serves a connected agent from memory: no repository read after it was stored", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    await reportAs(t.store, uid, 0n, "now");
    const reads = t.calls.gets;
    await reportAs(t.store, uid, 1n, "later");
    expect((await t.store.getAgent(instanceUidToHex(uid))).status?.sequenceNum).toBe(1n);
    expect(t.calls.gets).toBe(reads);
    expect(t.store.cachedAgents).toBe(1);
  });

  it("reads a cached agent through (fresh) without reading the agent while the store holds no newer revision, and takes the newer one when it does", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    await reportAs(t.store, uid, 0n, "now");
    const reads = t.calls.gets;
    const gatewayOf = () => t.store.mutate(hex, { create: false, fresh: true, serve: true }, (agent) => ({ persist: "no", result: agent.status?.gatewayId }));
    expect(await gatewayOf()).toBe("gw");
    expect(t.calls.gets).toBe(reads);

    // Another replica stores a newer revision: the read-through finds it.
    const theirs = (await t.repository.get(hex))!;
    theirs.status!.gatewayId = "written-elsewhere";
    await t.repository.save(theirs);
    expect(await gatewayOf()).toBe("written-elsewhere");
  });

  it("reads a cached agent through for a revision only when its cached copy is older than that revision", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    await reportAs(t.store, uid, 0n, "now");
    const cachedRevision = (await t.store.getAgent(hex)).revision;
    const gatewayAt = (revision: bigint) => t.store.mutate(hex, { create: false, fresh: revision, serve: true }, (agent) => ({ persist: "no", result: agent.status?.gatewayId }));

    // Another replica stores a newer revision.
    const theirs = (await t.repository.get(hex))!;
    theirs.status!.gatewayId = "written-elsewhere";
    await t.repository.save(theirs);
    // A push of a change at the cached revision (this replica wrote it): the cached copy, no read.
    const before = { gets: t.calls.gets, newer: t.calls.newer };
    expect(await gatewayAt(cachedRevision)).toBe("gw");
    expect(t.calls).toMatchObject(before);
    // A push of the newer revision: read through, and the newer copy taken.
    expect(await gatewayAt(theirs.revision)).toBe("written-elsewhere");
    expect(t.calls.newer).toBe(before.newer + 1);
  });

  it("says whether its next change of an agent sees a stored revision: cached at least that new, or marked stale; never for an agent not cached", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    expect(t.store.seesRevision(hex, 0n)).toBe(false);
    await reportAs(t.store, uid, 0n, "now");
    const mine = (await t.repository.get(hex))!.revision;
    expect(t.store.seesRevision(hex, mine)).toBe(true);
    // Another replica stores a newer revision: not seen, until marked stale.
    const theirs = (await t.repository.get(hex))!;
    await t.repository.save(theirs);
    expect(t.store.seesRevision(hex, theirs.revision)).toBe(false);
    t.store.markStale(hex);
    expect(t.store.seesRevision(hex, theirs.revision)).toBe(true);
  });

  it("retries a change on a fresh copy when another writer stored the agent first", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    await reportAs(t.store, uid, 0n, "now");
    // Another replica stores a newer revision behind this store's back.
    const theirs = (await t.repository.get(hex))!;
    theirs.status!.gatewayId = "written-elsewhere";
    await t.repository.save(theirs);

    let applied = 0;
    await t.store.mutate(hex, { create: false }, (agent) => {
      applied++;
      agent.status!.connectionId = "changed-here";
      return { persist: "now", result: undefined };
    });
    expect(applied).toBe(2); // once on the stale cached copy, once on the fresh one
    const stored = (await t.repository.get(hex))!;
    expect(stored.status?.connectionId).toBe("changed-here");
    expect(stored.status?.gatewayId).toBe("written-elsewhere");
  });

  it("keeps liveness in memory and writes each agent once per flush", async () => {
    const t = setup();
    const a = uuidv7Bytes();
    const b = uuidv7Bytes();
    await reportAs(t.store, a, 0n, "now");
    await reportAs(t.store, b, 0n, "now");
    const before = t.calls.saves;
    for (let seq = 1n; seq <= 5n; seq++) {
      await reportAs(t.store, a, seq, "later");
      await reportAs(t.store, b, seq, "later");
    }
    expect(t.calls.saves).toBe(before);
    await t.store.flush();
    expect(t.calls.saves).toBe(before + 2);
    expect((await t.repository.get(instanceUidToHex(a)))!.status?.sequenceNum).toBe(5n);
    await t.store.flush();
    expect(t.calls.saves).toBe(before + 2); // nothing new to write
    // The flushed revision is the cached one's: the next change is not a conflict.
    let applied = 0;
    await t.store.mutate(instanceUidToHex(a), { create: false }, () => (applied++, { persist: "now", result: undefined }));
    expect(applied).toBe(1);
  });

  it("keeps in memory only agents it serves: a change from elsewhere (an admin's, a rollout's) reads through and caches nothing", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    // Stored, connected, by another replica, which serves the agent.
    const elsewhere = newAgent(uid, 1_000);
    report(elsewhere, create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 0n }), connection, { now: 1_000, known: false });
    await t.repository.save(elsewhere);

    await t.store.mutate(hex, { create: false }, (agent) => ((agent.metadata!.labels = { env: "a" }), { persist: "now", result: undefined }));
    expect(t.store.cachedAgents).toBe(0);
    expect(t.store.serves(hex)).toBe(false);
    // Its next change reads the store again: what the serving replica wrote meanwhile is not hidden.
    const theirs = (await t.repository.get(hex))!;
    theirs.status!.sequenceNum = 7n;
    await t.repository.save(theirs);
    const seen = await t.store.mutate(hex, { create: false }, (agent) => ({ persist: "no", result: agent.status?.sequenceNum }));
    expect(seen).toBe(7n);

    // Its own reports make it served here.
    await reportAs(t.store, uid, 8n, "now");
    expect(t.store.serves(hex)).toBe(true);
  });

  it("writes a 'soon' change by the next flush whatever livenessWriteMs, not at all when a write comes first, and at once for an agent it does not keep", async () => {
    const t = setup({ livenessWriteMs: 120_000 });
    const a = uuidv7Bytes();
    await reportAs(t.store, a, 0n, "now");
    const before = t.calls.saves;
    await reportAs(t.store, a, 1n, "soon");
    expect(t.calls.saves).toBe(before);
    await t.store.flush();
    expect(t.calls.saves).toBe(before + 1);
    expect((await t.repository.get(instanceUidToHex(a)))!.status?.sequenceNum).toBe(1n);
    // A write of the agent before the flush carries it: the flush has nothing left.
    await reportAs(t.store, a, 2n, "soon");
    await reportAs(t.store, a, 3n, "now");
    await t.store.flush();
    expect(t.calls.saves).toBe(before + 2);
    // An agent this replica does not keep (not served here): nothing would flush it, so it is written now.
    const b = instanceUidToHex(uuidv7Bytes());
    await t.store.mutate(b, { create: true }, (agent) => {
      agent.status = create(AgentStatusSchema, { connected: true, sequenceNum: 0n });
      return { persist: "now", result: undefined };
    });
    expect(t.store.serves(b)).toBe(false);
    const saves = t.calls.saves;
    await t.store.mutate(b, { create: false }, (agent) => {
      agent.status!.sequenceNum = 7n;
      return { persist: "soon", result: undefined };
    });
    expect(t.calls.saves).toBe(saves + 1);
    expect((await t.repository.get(b))!.status?.sequenceNum).toBe(7n);
  });

  it("queues an agent's liveness for a flush only once it was last written longer ago than livenessWriteMs", async () => {
    let now = 1_000_000;
    const t = setup({ livenessWriteMs: 120_000, now: () => now });
    const a = uuidv7Bytes();
    await reportAs(t.store, a, 0n, "now");
    const before = t.calls.saves;
    // Heartbeats within the interval of the agent's last write: nothing to flush.
    for (let seq = 1n; seq <= 3n; seq++) {
      now += 30_000;
      await reportAs(t.store, a, seq, "later");
    }
    await t.store.flush();
    expect(t.calls.saves).toBe(before);
    // The first heartbeat past it is written by the next flush, with the freshest sequence number.
    now += 30_000;
    await reportAs(t.store, a, 4n, "later");
    await reportAs(t.store, a, 5n, "later");
    await t.store.flush();
    expect(t.calls.saves).toBe(before + 1);
    expect((await t.repository.get(instanceUidToHex(a)))!.status?.sequenceNum).toBe(5n);
    // And the interval starts again from that write.
    now += 30_000;
    await reportAs(t.store, a, 6n, "later");
    await t.store.flush();
    expect(t.calls.saves).toBe(before + 1);
    // A change writes at once, liveness with it, and restarts the interval too.
    await reportAs(t.store, a, 7n, "now");
    expect((await t.repository.get(instanceUidToHex(a)))!.status?.sequenceNum).toBe(7n);
    now += 119_000;
    await reportAs(t.store, a, 8n, "later");
    await t.store.flush();
    expect(t.calls.saves).toBe(before + 2);
  });

  it("writes one agent one write at a time: a liveness flush and a change in flight together both land, the change on top", async () => {
    const t = setup({ slowSaves: true });
    const uid = uuidv7Bytes();
    const hex = instanceUidToHex(uid);
    await reportAs(t.store, uid, 0n, "now");
    await reportAs(t.store, uid, 1n, "later");
    let applied = 0;
    const saves = t.calls.saves;
    const flushed = t.store.flush();
    // The change comes while the flush's write is in flight.
    while (t.calls.saves === saves) await new Promise((r) => setImmediate(r));
    const changed = t.store.mutate(hex, { create: false }, (agent) => (applied++, (agent.metadata!.labels = { changed: "yes" }), { persist: "now", result: undefined }));
    await Promise.all([flushed, changed]);
    expect(t.calls.overlapping).toBe(0);
    expect(applied).toBe(1); // written after the flush, on the revision it left: no conflict, no re-read
    const stored = (await t.repository.get(hex))!;
    expect(stored.metadata!.labels).toEqual({ changed: "yes" });
    expect(stored.status?.sequenceNum).toBe(1n);
  });

  it("tells watchers about stored changes, with copies, and stops when they unsubscribe", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const seen: Agent[] = [];
    const stop = t.store.watch((agent) => seen.push(agent));
    await reportAs(t.store, uid, 0n, "now");
    await reportAs(t.store, uid, 1n, "later"); // liveness only: not a stored change
    expect(seen.map((a) => a.status?.sequenceNum)).toEqual([0n]);
    seen[0]!.status!.gatewayId = "scribbled by a watcher";
    expect((await t.store.getAgent(instanceUidToHex(uid))).status?.gatewayId).toBe("gw");
    stop();
    await reportAs(t.store, uid, 2n, "now");
    expect(seen).toHaveLength(1);
  });

  it("tells observers about stored changes, synchronously under the lock, with the agent as stored, and stops when they unsubscribe", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    const seen: { seq: bigint | undefined; revision: bigint }[] = [];
    const stop = t.store.observe((agent) => seen.push({ seq: agent.status?.sequenceNum, revision: agent.revision }));
    const stored = await reportAs(t.store, uid, 0n, "now");
    await reportAs(t.store, uid, 1n, "later"); // liveness only: not a stored change
    // Seen before mutate returned, with the revision the store gave it.
    expect(seen).toEqual([{ seq: 0n, revision: stored + 1n }]);
    stop();
    await reportAs(t.store, uid, 2n, "now");
    expect(seen).toHaveLength(1);
  });

  it("keeps no cached agent's bytes viewing the buffer its report was decoded from (the whole frame or batch would stay in memory)", async () => {
    const t = setup();
    const uid = uuidv7Bytes();
    // A report as the gateway decodes it: its bytes fields are views of one larger buffer.
    const frame = new Uint8Array(4096);
    frame.set(uid, 10);
    frame.set(new TextEncoder().encode("receivers: {}\n"), 100);
    const msg = create(AgentToServerSchema, {
      instanceUid: frame.subarray(10, 26),
      sequenceNum: 0n,
      effectiveConfig: { configMap: { configMap: { "": { body: frame.subarray(100, 114), contentType: "text/yaml" } } } },
    });
    let cached: Readonly<Agent> | undefined;
    const stop = t.store.observe((agent) => (cached = agent)); // the cached object itself, as stored
    await t.store.mutate(instanceUidToHex(uid), { create: true, serve: true }, (agent, known) => {
      report(agent, msg, connection, { now: 1_000, known });
      return { persist: "now", result: undefined };
    });
    stop();
    const body = cached?.status?.effectiveConfig?.configMap?.configMap[""]?.body;
    expect(new TextDecoder().decode(body)).toBe("receivers: {}\n");
    // Held in a buffer of the agent's own bytes (its UID, the config), not the 4 KiB frame.
    expect(body?.buffer).not.toBe(frame.buffer);
    expect(body?.buffer.byteLength).toBeLessThan(100);
    expect(cached?.metadata?.instanceUid.buffer.byteLength).toBeLessThan(100);
  });

  it("keeps what the agents it serves report alike (description attributes, an effective config decoded from a Buffer) as one frozen copy, and hands out copies anyone may change", async () => {
    const t = setup();
    const cached = new Map<string, Readonly<Agent>>();
    const stop = t.store.observe((agent) => cached.set(instanceUidToHex(agent.metadata!.instanceUid), agent)); // the cached objects themselves
    const uids = [uuidv7Bytes(), uuidv7Bytes()];
    for (const uid of uids) {
      const agentDescription = {
        identifyingAttributes: [{ key: "service.name", value: { value: { case: "stringValue" as const, value: "otelcol" } } }],
        nonIdentifyingAttributes: [{ key: "host.name", value: { value: { case: "stringValue" as const, value: instanceUidToHex(uid) } } }],
      };
      // Its config's bytes as decoded in-process from a WebSocket frame: a view of a Buffer.
      const frame = Buffer.alloc(64);
      frame.write("receivers: {}\n", 10);
      const effectiveConfig = { configMap: { configMap: { "": { body: frame.subarray(10, 24), contentType: "text/yaml" } } } };
      await t.store.mutate(instanceUidToHex(uid), { create: true, serve: true }, (agent, known) => {
        report(agent, create(AgentToServerSchema, { instanceUid: uid, sequenceNum: 0n, agentDescription, effectiveConfig }), connection, { now: 1_000, known });
        return { persist: "now", result: undefined };
      });
    }
    stop();
    const [a, b] = uids.map((uid) => cached.get(instanceUidToHex(uid))!.metadata!.description!);
    expect(b!.identifyingAttributes[0]).toBe(a!.identifyingAttributes[0]);
    expect(Object.isFrozen(a!.identifyingAttributes[0])).toBe(true);
    expect(b!.nonIdentifyingAttributes[0]).not.toBe(a!.nonIdentifyingAttributes[0]);
    const [ca, cb] = uids.map((uid) => cached.get(instanceUidToHex(uid))!.status!.effectiveConfig);
    expect(cb).toBe(ca);
    expect(new TextDecoder().decode(ca!.configMap!.configMap[""]!.body)).toBe("receivers: {}\n");

    // What readers get is their own copy: changing it changes nothing cached, and does not throw.
    const copy = await t.store.getAgent(instanceUidToHex(uids[0]!));
    copy.metadata!.description!.identifyingAttributes[0]!.key = "renamed";
    expect(a!.identifyingAttributes[0]!.key).toBe("service.name");
    expect((await t.repository.get(instanceUidToHex(uids[1]!)))!.metadata!.description!.identifyingAttributes[0]!.value!.value.value).toBe("otelcol");
  });

  it("lists the uids a query selects, in uid order and in pages, without reading any agent one by one", async () => {
    const t = setup();
    const uids = [uuidv7Bytes(), uuidv7Bytes(), uuidv7Bytes()];
    for (const uid of uids) await reportAs(t.store, uid, 0n, "now");
    const hex = uids.map(instanceUidToHex).sort();
    const gets = t.calls.gets;
    expect(await t.store.listUids({ limit: 2 })).toEqual(hex.slice(0, 2));
    expect(await t.store.listUids({ limit: 2, after: hex[1]! })).toEqual([hex[2]]);
    expect(await t.store.listUids({ limit: 10, where: (a) => instanceUidToHex(a.metadata!.instanceUid) !== hex[0] })).toEqual(hex.slice(1));
    expect(t.calls.gets).toBe(gets);
  });
});
