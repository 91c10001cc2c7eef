import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { RolloutSchema, type Rollout } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import type { EmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import type { RolloutLease, RolloutLeaseRepository, RolloutRepository } from "../rollouts/rollout-repository.js";

/**
 * Rollouts and their leases in the embedded store. One process writes it,
 * so a check and the write it guards run in one transaction; keys are
 * tuples so a rollout's decisions, and a namespace's rollouts, are ranges.
 */
export function createLmdbRolloutRepository(store: EmbeddedStore): RolloutRepository {
  const states = store.openDB<Buffer, [string, number]>({ name: "rollout-states", encoding: "binary" });
  const index = store.openDB<string, [string, string]>({ name: "rollouts", encoding: "msgpack" });
  const slots = store.openDB<string, [string, string]>({ name: "rollout-slots", encoding: "msgpack" });
  const decode = (bytes: Buffer) => fromBinary(RolloutSchema, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const encode = (r: Rollout) => Buffer.from(toBinary(RolloutSchema, r));
  const latest = (id: string): Rollout | undefined => {
    for (const { value } of states.getRange({ start: [id, Number.MAX_SAFE_INTEGER], end: [id, 0], reverse: true, limit: 1 })) return decode(value);
    return undefined;
  };
  return {
    async create(rollout) {
      return store.transaction(() => {
        if (slots.get([rollout.namespace, rollout.group]) !== undefined) return false;
        slots.put([rollout.namespace, rollout.group], rollout.id);
        index.put([rollout.namespace, rollout.id], rollout.group);
        states.put([rollout.id, Number(rollout.sequence)], encode(rollout));
        return true;
      });
    },
    async record(rollout) {
      return store.transaction(() => {
        const key: [string, number] = [rollout.id, Number(rollout.sequence)];
        if (states.get(key) !== undefined) return false;
        states.put(key, encode(rollout));
        return true;
      });
    },
    async get(namespace, id) {
      if (index.get([namespace, id]) === undefined) return undefined;
      return latest(id);
    },
    async list(namespace, { limit, before, group }) {
      const out: Rollout[] = [];
      if (limit <= 0) return out;
      for (const { key, value } of index.getRange({ start: [namespace, before ?? "\uffff"], end: [namespace, ""], reverse: true })) {
        if (key[0] !== namespace) break;
        if (key[1] === before || (group && value !== group)) continue;
        const r = latest(key[1]);
        if (r) out.push(r);
        if (out.length >= limit) break;
      }
      return out;
    },
    async active() {
      return [...slots.getRange({})].map(({ key, value }) => ({ namespace: key[0], id: value }));
    },
    async release(namespace, group, id) {
      await store.transaction(() => {
        if (slots.get([namespace, group]) === id) slots.remove([namespace, group]);
      });
    },
  };
}

export function createLmdbRolloutLeaseRepository(store: EmbeddedStore): RolloutLeaseRepository {
  const leases = store.openDB<{ holder: string; expiresAt: number }, [string, number]>({ name: "rollout-leases", encoding: "msgpack" });
  const of = (key: [string, number], value: { holder: string; expiresAt: number }): RolloutLease => ({ rolloutId: key[0], term: key[1], ...value });
  return {
    async latest(rolloutId) {
      for (const { key, value } of leases.getRange({ start: [rolloutId, Number.MAX_SAFE_INTEGER], end: [rolloutId, 0], reverse: true, limit: 1 })) return of(key, value);
      return undefined;
    },
    async claim(lease) {
      return store.transaction(() => {
        if (leases.get([lease.rolloutId, lease.term]) !== undefined) return false;
        leases.put([lease.rolloutId, lease.term], { holder: lease.holder, expiresAt: lease.expiresAt });
        return true;
      });
    },
    async renew(lease) {
      await store.transaction(() => {
        const held = leases.get([lease.rolloutId, lease.term]);
        if (held?.holder === lease.holder) leases.put([lease.rolloutId, lease.term], { holder: lease.holder, expiresAt: lease.expiresAt });
      });
    },
  };
}
