import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { AgentSchema, ConnectionSchema, type Agent, type Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { EmbeddedStore } from "@fleetplane/platform-node";
import { instanceUidToHex } from "@fleetplane/platform";
import {
  RevisionConflictError,
  type AgentQuery,
  type AgentRepository,
} from "../agents/agent-repository.js";
import type { ConnectionRepository } from "../connections/connection-store.js";
import type { GatewayLeaseRepository } from "../connections/gateway-lease-store.js";
import { matchesAgentQuery } from "../agents/agent-query.js";
import { namespaceOf } from "../agents/agent-namespace.js";
import { FleetSummaryCounter } from "../agents/fleet-summary.js";

/**
 * Agents in the embedded store, keyed by hex instance UID and stored as the
 * Agent protobuf. The revision check and the write run in one LMDB
 * transaction, so a stale writer cannot overwrite a newer agent.
 */
export function createLmdbAgentRepository(store: EmbeddedStore): AgentRepository {
  const agents = store.openDB<Buffer, string>({ name: "agents", encoding: "binary" });
  // Value layout: 8-byte big-endian revision, then the Agent protobuf. The
  // revision check reads 8 bytes instead of decoding the whole agent.
  const revisionOf = (bytes: Buffer | undefined) => (bytes ? bytes.readBigUInt64BE(0) : 0n);
  const decode = (bytes: Buffer | undefined) => {
    if (!bytes) return undefined;
    const agent = fromBinary(AgentSchema, bytes.subarray(8));
    agent.revision = revisionOf(bytes);
    return agent;
  };

  return {
    async get(uid) {
      return decode(agents.get(uid));
    },
    async save(agent) {
      const uid = instanceUidToHex(agent.metadata!.instanceUid);
      const expected = agent.revision;
      const body = toBinary(AgentSchema, agent);
      const bytes = Buffer.allocUnsafe(8 + body.length);
      bytes.writeBigUInt64BE(expected + 1n, 0);
      bytes.set(body, 8);
      const ok = await store.transaction(() => {
        if (revisionOf(agents.get(uid)) !== expected) return false;
        agents.put(uid, bytes);
        return true;
      });
      if (!ok) throw new RevisionConflictError(uid, expected);
      agent.revision = expected + 1n;
    },
    async list(query: AgentQuery) {
      const out: Agent[] = [];
      // Named agents are read one by one, in uid order, not by a scan (so
      // matchesAgentQuery need not look at instanceUids).
      const entries = query.instanceUids
        ? [...new Set(query.instanceUids)].sort().filter((k) => !query.after || k > query.after).map((key) => ({ key, value: agents.get(key) }))
        : agents.getRange(query.after ? { start: query.after } : {});
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
}

export function createLmdbConnectionRepository(store: EmbeddedStore): ConnectionRepository {
  const connections = store.openDB<Buffer, string>({ name: "connections", encoding: "binary" });
  return {
    async save(connection) {
      await connections.put(connection.id, Buffer.from(toBinary(ConnectionSchema, connection)));
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
  return {
    async renew(gatewayId, expiresAt) {
      await leases.put(gatewayId, expiresAt);
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
      await leases.remove(gatewayId);
    },
    async releaseIfExpired(gatewayId, now) {
      await store.transaction(() => {
        const expiresAt = leases.get(gatewayId);
        if (expiresAt !== undefined && expiresAt < now) leases.remove(gatewayId);
      });
    },
  };
}
