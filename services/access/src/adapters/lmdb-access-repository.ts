import type { EmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { ApiKeyNameTakenError, type AccessEventRecord, type AccessRepository, type ApiKeyRecord } from "../access-repository.js";
import type { RoleBinding } from "../role-bindings.js";

/** An API key as stored: the hash in hex, so the record is plain JSON. */
type StoredKey = Omit<ApiKeyRecord, "secretSha256"> & { secretSha256: string };

const toStored = (k: ApiKeyRecord): StoredKey => ({ ...k, secretSha256: Buffer.from(k.secretSha256).toString("hex") });
const fromStored = (k: StoredKey): ApiKeyRecord => ({ ...k, secretSha256: new Uint8Array(Buffer.from(k.secretSha256, "hex")) });

/**
 * Keys, bindings and access events in the embedded store. Keys by id, with a
 * second database from name to id so a name is taken once (checked and
 * written in one transaction); bindings keyed by [identity, namespace, role]
 * (lmdb-js orders array keys element by element, so one identity's bindings
 * are one range); events by their UUIDv7 id, read newest first.
 */
export function createLmdbAccessRepository(store: EmbeddedStore): AccessRepository {
  const keys = store.openDB<StoredKey, string>({ name: "api_keys", encoding: "json" });
  const keyNames = store.openDB<string, string>({ name: "api_key_names", encoding: "json" });
  const bindings = store.openDB<true, [string, string, string]>({ name: "role_bindings", encoding: "json" });
  const events = store.openDB<AccessEventRecord, string>({ name: "access_events", encoding: "json" });

  return {
    async insertApiKey(key) {
      const taken = await store.transaction(() => {
        if (keyNames.get(key.name) !== undefined) return true;
        keyNames.put(key.name, key.id);
        keys.put(key.id, toStored(key));
        return false;
      });
      if (taken) throw new ApiKeyNameTakenError(key.name);
    },
    async getApiKey(id) {
      const found = keys.get(id);
      return found ? fromStored(found) : undefined;
    },
    async listApiKeys() {
      return [...keys.getRange({})].map(({ value }) => fromStored(value)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    async revokeApiKey(id, atMs, by) {
      return store.transaction(() => {
        const found = keys.get(id);
        if (!found) return undefined;
        if (found.revokedAtMs !== undefined) return fromStored(found);
        const revoked = { ...found, revokedAtMs: atMs, revokedBy: by };
        keys.put(id, revoked);
        return fromStored(revoked);
      });
    },
    async putRoleBinding(b) {
      await bindings.put([b.identity, b.namespace, b.role], true);
    },
    async listRoleBindings(identity) {
      const range = identity === undefined ? {} : { start: [identity], end: [identity, "\uffff"] };
      return [...bindings.getRange(range)].map(({ key }) => ({ identity: key[0], namespace: key[1], role: key[2] }) as RoleBinding);
    },
    async deleteRoleBinding(b) {
      return store.transaction(() => {
        const key: [string, string, string] = [b.identity, b.namespace, b.role];
        if (bindings.get(key) === undefined) return false;
        bindings.remove(key);
        return true;
      });
    },
    async appendAccessEvent(event) {
      await events.put(event.id, event);
    },
    async listAccessEvents({ limit, before }) {
      const out: AccessEventRecord[] = [];
      if (limit <= 0) return out;
      for (const { value } of events.getRange({ reverse: true, ...(before ? { start: before } : {}) })) {
        if (value.id === before) continue;
        out.push(value);
        if (out.length >= limit) break;
      }
      return out;
    },
  };
}
