import type { AccessRepository, ApiKeyRecord } from "./access-repository.js";
import type { RoleBinding } from "./role-bindings.js";

/** What the authenticator reads to check a credential: the store, or the cache in front of it. */
export type CredentialSource = Pick<AccessRepository, "getApiKey" | "listRoleBindings">;

export interface CredentialCacheOptions {
  /**
   * How long a key or an identity's bindings are trusted without reading the
   * store again. Changes are announced (AccessChanges), so this only bounds
   * how late a change is seen when its notice was lost or could not be sent
   * (no NATS, a replica without a bus). Default 15 000 ms; 0: no cache.
   */
  ttlMs?: number;
  /** Keys and identities kept (each); the least recently loaded go first. Default 10 000. */
  maxEntries?: number;
  now?: () => number;
  /** Told of every read: served from memory (hit) or from the store (miss). For /metrics. */
  observe?: (result: "hit" | "miss") => void;
}

export interface CredentialCache extends CredentialSource {
  /** Drops what is cached about an identity ("key:<name>" or "oidc:<subject>"): its keys and its bindings. */
  forget(identity: string): void;
  /** Drops everything (notices may have been lost, e.g. while the bus was down). */
  clear(): void;
}

interface Entry<T> {
  value: T;
  untilMs: number;
}

/**
 * Verified API keys and role bindings kept in memory, so a hot key costs no
 * store read per call. Unknown keys are not kept (every try of a guessed id
 * reads the store, as before; a key made on another replica is found at
 * once). A load that overlaps a `forget` or `clear` is not kept: it may have
 * read the store before the change it was forgotten for.
 */
export function createCredentialCache(source: CredentialSource, o: CredentialCacheOptions = {}): CredentialCache {
  const ttlMs = o.ttlMs ?? 15_000;
  const maxEntries = o.maxEntries ?? 10_000;
  const now = o.now ?? Date.now;
  const keys = new Map<string, Entry<ApiKeyRecord>>();
  const bindings = new Map<string, Entry<RoleBinding[]>>();
  let generation = 0;

  const read = async <T>(map: Map<string, Entry<T>>, id: string, load: () => Promise<T | undefined>): Promise<T | undefined> => {
    const hit = map.get(id);
    if (hit && hit.untilMs > now()) {
      o.observe?.("hit");
      return hit.value;
    }
    o.observe?.("miss");
    const started = generation;
    const value = await load();
    if (value !== undefined && ttlMs > 0 && generation === started) {
      map.delete(id); // re-inserted last: the Map's order is the load order
      map.set(id, { value, untilMs: now() + ttlMs });
      if (map.size > maxEntries) map.delete(map.keys().next().value!);
    }
    return value;
  };

  return {
    getApiKey: (id) => read(keys, id, () => source.getApiKey(id)),
    async listRoleBindings(identity) {
      if (identity === undefined) return source.listRoleBindings();
      return (await read(bindings, identity, () => source.listRoleBindings(identity))) ?? [];
    },
    forget(identity) {
      generation++;
      bindings.delete(identity);
      if (!identity.startsWith("key:")) return;
      for (const [id, entry] of keys) if (`key:${entry.value.name}` === identity) keys.delete(id);
    },
    clear() {
      generation++;
      keys.clear();
      bindings.clear();
    },
  };
}
