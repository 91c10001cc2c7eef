import { fromBinary } from "@bufbuild/protobuf";
import { AgentSchema, ConnectionSchema, type Agent, type Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { EmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { instanceUidToHex } from "@fleetplane/platform";
import {
  RevisionConflictError,
  type AgentQuery,
  type AgentRepository,
  type DisconnectedQuery,
  type GroupTarget,
  type StoredRevision,
} from "../agents/agent-repository.js";
import type { ConnectionRepository } from "../connections/connection-store.js";
import type { GatewayLeaseRepository } from "../connections/gateway-lease-store.js";
import { matchesAgentQuery } from "../agents/agent-query.js";
import { namespaceOf } from "../agents/agent-namespace.js";
import { FleetSummaryCounter } from "../agents/fleet-summary.js";
import { disconnectedSince } from "../agents/disconnected-since.js";
import { groupTargetOf, rolloutGroupOf } from "../rollouts/group-agents.js";
import { componentsKeyOf } from "../rollouts/preflight.js";
import { prefixedBinaryEncoder } from "@fleetplane/platform-node";

/** The stored Agent behind its 8-byte revision, and the Connection, each in one buffer (see prefixed-binary-encoder.ts). */
const encodeAgent = prefixedBinaryEncoder(AgentSchema);
const encodeConnection = prefixedBinaryEncoder(ConnectionSchema);

/** Agents read per transaction while the disconnected index is built for agents stored before it existed. */
const INDEX_BUILD_CHUNK = 1_000;
/** Names the secondary tables a build fills: a store built under an older name builds again. */
const INDEX_BUILD_MARKER = "disconnected-since+namespaces+group-targets";

/** An agent's entry in the group-target table (see byGroupTarget). */
interface GroupTargetEntry {
  key: [string, string, string];
  /** Version, rollout, components key (componentsKeyOf; absent in entries written before it was kept). */
  value: [number, string, string?];
}

function groupTargetEntry(agent: Agent): GroupTargetEntry | undefined {
  const group = rolloutGroupOf(agent);
  if (group === undefined) return undefined;
  const t = groupTargetOf(agent);
  return { key: [namespaceOf(agent), group, t.uid], value: [t.version, t.rollout, componentsKeyOf(agent)] };
}

/**
 * Agents in the embedded store, keyed by hex instance UID and stored as the
 * Agent protobuf. The revision check and the write run in one LMDB
 * transaction, so a stale writer cannot overwrite a newer agent.
 *
 * Retention reads agents by how long they have been disconnected through a
 * secondary table keyed [disconnectedSince, uid], written in the same
 * transaction as the agent. A scan of the agents instead would decode every
 * agent each sweep (a second or more per few hundred thousand agents, on the
 * event loop); the table costs one small read per save, and a write only when
 * the agent connects or disconnects.
 */
export function createLmdbAgentRepository(store: EmbeddedStore): AgentRepository {
  const agents = store.openDB<Buffer, string>({ name: "agents", encoding: "binary" });
  const byDisconnected = store.openDB<true, [number, string]>({ name: "agents-by-disconnected-since" });
  // uid → its key in byDisconnected, so a save finds the entry to replace without decoding the stored agent.
  const disconnectedOf = store.openDB<number, string>({ name: "agents-disconnected-since" });
  const indexBuilds = store.openDB<true, string>({ name: "agent-index-builds" });
  // Agents per namespace, kept in each save's and delete's transaction; uid →
  // its namespace, so that counting an agent is idempotent (a save of an
  // agent already counted, or the build for a store from before, counts nothing).
  const perNamespace = store.openDB<number, string>({ name: "agents-per-namespace" });
  const namespaceCounted = store.openDB<string, string>({ name: "agents-namespace-counted" });
  // The agents a rollout of each group may move, keyed [namespace, group, uid]
  // → [version, rollout, components key], kept in each save's and delete's transaction: a
  // rollout's start and each stage's choice list a group of thousands without
  // decoding one agent. uid → its key there, so a save finds the entry to
  // replace without decoding the stored agent.
  const byGroupTarget = store.openDB<GroupTargetEntry["value"], GroupTargetEntry["key"]>({ name: "agents-by-group-target" });
  const groupTargetKeyOf = store.openDB<[string, string], string>({ name: "agents-group-target-of" });
  // Value layout: 8-byte big-endian revision, then the Agent protobuf. The
  // revision check reads 8 bytes instead of decoding the whole agent.
  const revisionOf = (bytes: Buffer | undefined) => (bytes ? bytes.readBigUInt64BE(0) : 0n);
  const decode = (bytes: Buffer | undefined) => {
    if (!bytes) return undefined;
    const agent = fromBinary(AgentSchema, bytes.subarray(8));
    agent.revision = revisionOf(bytes);
    return agent;
  };
  /** An agent's write, encoded outside the transaction; `put` (inside one) checks the revision and writes, false on a conflict. */
  const prepare = (agent: Agent) => {
    const uid = instanceUidToHex(agent.metadata!.instanceUid);
    const expected = agent.revision;
    const bytes = encodeAgent(agent, 8);
    bytes.writeBigUInt64BE(expected + 1n, 0);
    const since = disconnectedSince(agent);
    const namespace = namespaceOf(agent);
    const target = groupTargetEntry(agent);
    return {
      uid,
      put: (): boolean => {
        if (revisionOf(agents.get(uid)) !== expected) return false;
        agents.put(uid, bytes);
        indexDisconnected(uid, since);
        countNamespace(uid, namespace);
        indexGroupTarget(uid, target);
        return true;
      },
    };
  };
  let building: Promise<void> | undefined;
  // A store without agents needs no build: every agent to come is indexed by
  // its own save. Marked at once, the first reader of an index (retention's
  // sweep, the per-namespace gauge) does not decode every agent saved since
  // start — on a first start, the whole connect storm. If the mark fails to
  // write, the build runs when first needed, as for any unmarked store.
  if (!indexBuilds.get(INDEX_BUILD_MARKER) && agents.getKeysCount({ limit: 1 }) === 0) {
    building = indexBuilds.put(INDEX_BUILD_MARKER, true).then(
      () => undefined,
      () => void (building = undefined),
    );
  }

  return {
    async get(uid) {
      return decode(agents.get(uid));
    },
    async getNewer(uid, revision) {
      const bytes = agents.get(uid);
      return revisionOf(bytes) > revision ? decode(bytes) : undefined;
    },
    async save(agent) {
      const write = prepare(agent);
      const ok = await store.transaction(() => write.put());
      if (!ok) throw new RevisionConflictError(write.uid, agent.revision);
      agent.revision += 1n;
    },
    async saveMany(batch) {
      // One transaction for the whole batch: each agent's revision is checked and written in it. None
      // is created (revision 0 is "new" to put): as MongoDB's, a batch only writes stored agents.
      const writes = batch.map(prepare);
      const wrote = await store.transaction(() => writes.map((w, i) => batch[i]!.revision > 0n && w.put()));
      batch.forEach((agent, i) => void (wrote[i] && (agent.revision += 1n)));
      return wrote;
    },
    async delete(agent) {
      const uid = instanceUidToHex(agent.metadata!.instanceUid);
      const ok = await store.transaction(() => {
        if (revisionOf(agents.get(uid)) !== agent.revision) return false;
        agents.remove(uid);
        indexDisconnected(uid, undefined);
        countNamespace(uid, undefined);
        indexGroupTarget(uid, undefined);
        return true;
      });
      if (!ok) throw new RevisionConflictError(uid, agent.revision);
    },
    async list(query: AgentQuery) {
      const out: Agent[] = [];
      // Named agents are read one by one, in uid order, not by a scan (so
      // matchesAgentQuery need not look at instanceUids).
      // Read as the page fills (a page of a large stage reads its own agents, not every one after it).
      const named = function* (uids: readonly string[]) {
        for (const key of [...new Set(uids)].sort()) if (!query.after || key > query.after) yield { key, value: agents.get(key) };
      };
      const entries = query.instanceUids ? named(query.instanceUids) : agents.getRange(query.after ? { start: query.after } : {});
      for (const { key, value } of entries) {
        if (value === undefined) continue;
        if (query.after && key === query.after) continue;
        const agent = decode(value)!;
        if (!matchesAgentQuery(agent, query)) continue;
        out.push(agent);
        if (out.length >= query.limit) break;
      }
      return out;
    },
    async listGroupTargets(namespace, group, page) {
      await indexBuilt();
      const out: GroupTarget[] = [];
      // Uids are lowercase hex, so "~" sorts after every one of the group's keys.
      for (const { key, value } of byGroupTarget.getRange({ start: [namespace, group, page.after ?? ""], end: [namespace, group, "~"] })) {
        if (key[2] === page.after) continue;
        out.push({ uid: key[2], version: value[0], rollout: value[1], ...(page.components ? { components: value[2] } : {}) });
        if (out.length >= page.limit) break;
      }
      return out;
    },
    async listRevisions(query) {
      await indexBuilt();
      const out: StoredRevision[] = [];
      if (query.limit <= 0) return out;
      // The namespace from the per-namespace table and the revision from the
      // value's first 8 bytes: no agent is decoded.
      const uids = query.instanceUids
        ? [...new Set(query.instanceUids)].sort()
        : namespaceCounted.getKeys(query.after ? { start: query.after } : {});
      for (const uid of uids) {
        if (query.after !== undefined && uid <= query.after) continue;
        if (namespaceCounted.get(uid) !== query.namespace) continue;
        const bytes = agents.get(uid);
        if (!bytes) continue;
        out.push({ uid, revision: revisionOf(bytes) });
        if (out.length >= query.limit) break;
      }
      return out;
    },
    async listDisconnected(query: DisconnectedQuery) {
      await indexBuilt();
      const out: Agent[] = [];
      const start: [number, string] = query.after ? [query.after.since, query.after.uid] : [Number.MIN_SAFE_INTEGER, ""];
      for (const [since, uid] of byDisconnected.getKeys({ start, end: [query.before] })) {
        if (query.after && since === query.after.since && uid === query.after.uid) continue;
        const agent = decode(agents.get(uid));
        if (agent) out.push(agent);
        if (out.length >= query.limit) break;
      }
      return out;
    },
    async count() {
      // LMDB keeps the entry count of each table (mdb_stat; lmdb-js types it as {}): no scan.
      return (agents.getStats() as { entryCount: number }).entryCount;
    },
    async countByNamespace() {
      await indexBuilt();
      const out = new Map<string, number>();
      for (const { key, value } of perNamespace.getRange({})) if (value > 0) out.set(key, value);
      return out;
    },
    async summarize(namespace) {
      // A full scan: acceptable for an admin overview of the embedded store
      // (about a second per few hundred thousand agents).
      const counter = new FleetSummaryCounter();
      for (const { value } of agents.getRange({})) {
        const agent = decode(value)!;
        if (namespace === undefined || namespaceOf(agent) === namespace) counter.add(agent);
      }
      return counter.summary();
    },
    async ping() {
      agents.getKeysCount({ limit: 1 });
    },
  };

  /** Counts the agent in `namespace` (none: removed), once. Call inside the write transaction. */
  function countNamespace(uid: string, namespace: string | undefined): void {
    const previous = namespaceCounted.get(uid);
    if (previous === namespace) return;
    if (previous !== undefined) perNamespace.put(previous, (perNamespace.get(previous) ?? 1) - 1);
    if (namespace === undefined) {
      namespaceCounted.remove(uid);
    } else {
      perNamespace.put(namespace, (perNamespace.get(namespace) ?? 0) + 1);
      namespaceCounted.put(uid, namespace);
    }
  }

  /** Moves the agent's entry in byGroupTarget to `entry` (none: no rollout may move it, or it is removed). Call inside the write transaction. */
  function indexGroupTarget(uid: string, entry: GroupTargetEntry | undefined): void {
    const previous = groupTargetKeyOf.get(uid);
    const key = entry?.key;
    if (previous && (!key || previous[0] !== key[0] || previous[1] !== key[1])) byGroupTarget.remove([previous[0], previous[1], uid]);
    if (!entry) {
      if (previous) groupTargetKeyOf.remove(uid);
      return;
    }
    const stored = byGroupTarget.get(entry.key);
    if (!stored || stored[0] !== entry.value[0] || stored[1] !== entry.value[1] || stored[2] !== entry.value[2]) byGroupTarget.put(entry.key, entry.value);
    if (!previous || previous[0] !== entry.key[0] || previous[1] !== entry.key[1]) groupTargetKeyOf.put(uid, [entry.key[0], entry.key[1]]);
  }

  /** Moves the agent's entry in byDisconnected to `since` (none: connected or removed). Call inside the write transaction. */
  function indexDisconnected(uid: string, since: number | undefined): void {
    const previous = disconnectedOf.get(uid);
    if (previous === since) return;
    if (previous !== undefined) byDisconnected.remove([previous, uid]);
    if (since === undefined) {
      disconnectedOf.remove(uid);
    } else {
      byDisconnected.put([since, uid], true);
      disconnectedOf.put(uid, since);
    }
  }

  /**
   * Builds the index for agents stored before it existed, once per store (a
   * marker records that it was built), a chunk per transaction. Saves during
   * the build keep their own entries, and each chunk reads the agents inside
   * its transaction, so the build never writes a stale entry.
   */
  async function buildIndex(): Promise<void> {
    // One pass builds every table; the marker's new name makes stores that
    // had only the earlier ones build it once more (each is idempotent).
    if (indexBuilds.get(INDEX_BUILD_MARKER)) return;
    let after: string | undefined;
    for (;;) {
      const last = await store.transaction(() => {
        let seen: string | undefined;
        let read = 0;
        for (const { key, value } of agents.getRange(after ? { start: after } : {})) {
          if (key === after) continue;
          const agent = decode(value)!;
          indexDisconnected(key, disconnectedSince(agent));
          countNamespace(key, namespaceOf(agent));
          indexGroupTarget(key, groupTargetEntry(agent));
          seen = key;
          if (++read >= INDEX_BUILD_CHUNK) break;
        }
        return seen;
      });
      if (last === undefined) break;
      after = last;
    }
    await indexBuilds.put(INDEX_BUILD_MARKER, true);
  }
  function indexBuilt(): Promise<void> {
    building ??= buildIndex().catch((err: unknown) => {
      building = undefined; // tried again on the next call
      throw err;
    });
    return building;
  }
}

export function createLmdbConnectionRepository(store: EmbeddedStore): ConnectionRepository {
  const connections = store.openDB<Buffer, string>({ name: "connections", encoding: "binary" });
  return {
    async save(connection) {
      await connections.put(connection.id, encodeConnection(connection, 0));
    },
    async get(id) {
      const bytes = connections.get(id);
      return bytes ? fromBinary(ConnectionSchema, bytes) : undefined;
    },
    async delete(id) {
      await connections.remove(id);
    },
    async list({ gatewayId, limit, after }) {
      const out: Connection[] = [];
      for (const { key, value } of connections.getRange(after ? { start: after } : {})) {
        if (after && key === after) continue;
        const c = fromBinary(ConnectionSchema, value);
        if (gatewayId && c.gatewayId !== gatewayId) continue;
        out.push(c);
        if (out.length >= limit) break;
      }
      return out;
    },
  };
}

export function createLmdbGatewayLeaseRepository(store: EmbeddedStore): GatewayLeaseRepository {
  // Few entries (one per gateway), so a scan for expired leases is cheap.
  const leases = store.openDB<number, string>({ name: "gateway-leases", encoding: "ordered-binary" });
  // The epoch holding each lease, and since when it holds it unbroken, beside
  // it (the leases table predates both).
  const epochs = store.openDB<string, string>({ name: "gateway-lease-epochs" });
  const holds = store.openDB<string, string>({ name: "gateway-lease-holds" });
  return {
    async renew(gatewayId, expiresAt, epoch, now, newHold) {
      return store.transaction(() => {
        const previousEpoch = epochs.get(gatewayId);
        const previousExpiry = leases.get(gatewayId);
        const hold = holds.get(gatewayId);
        leases.put(gatewayId, expiresAt);
        if (previousEpoch !== epoch) epochs.put(gatewayId, epoch);
        if (hold && previousEpoch === epoch && previousExpiry !== undefined && previousExpiry >= now) return { previousEpoch, hold };
        holds.put(gatewayId, newHold);
        return { previousEpoch, hold: newHold };
      });
    },
    async expired(now, limit) {
      const out: string[] = [];
      for (const { key, value } of leases.getRange({})) {
        if (value < now) out.push(key);
        if (out.length >= limit) break;
      }
      return out;
    },
    async release(gatewayId) {
      await store.transaction(() => {
        leases.remove(gatewayId);
        epochs.remove(gatewayId);
        holds.remove(gatewayId);
      });
    },
    async releaseReaped(gatewayId, expiredBefore, newHold) {
      await store.transaction(() => {
        const expiresAt = leases.get(gatewayId);
        if (expiresAt === undefined) return;
        if (expiresAt < expiredBefore) {
          leases.remove(gatewayId);
          epochs.remove(gatewayId);
          holds.remove(gatewayId);
        } else {
          holds.put(gatewayId, newHold);
        }
      });
    },
  };
}
