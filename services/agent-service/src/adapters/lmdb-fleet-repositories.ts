import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { ConfigurationSchema, ConfigurationVersionSchema, GroupSchema, NamespaceSchema, type Configuration, type ConfigurationVersion, type Group, type Namespace } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import type { EmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { ConfigurationVersionConflictError, type ConfigurationRepository } from "../fleet/configuration-repository.js";
import type { GroupRepository } from "../fleet/group-repository.js";
import type { NamespaceRepository } from "../fleet/namespace-repository.js";

/**
 * Namespaces, configurations (with their versions) and groups in the
 * embedded store. Keys are tuples (lmdb-js orders array keys element by
 * element), so a namespace's resources are one range in name order and a
 * configuration's versions one range in version order. Checks and writes
 * that must not interleave run in one transaction.
 */

type Key = string[] | [string, string, number];

/** Protobuf values; decoded from a plain Uint8Array view so bytes fields are Uint8Arrays. */
function codec<D extends DescMessage>(schema: D) {
  return {
    encode: (m: MessageShape<D>) => Buffer.from(toBinary(schema, m)),
    decode: (bytes: Buffer | undefined): MessageShape<D> | undefined => (bytes ? fromBinary(schema, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)) : undefined),
  };
}

/** Values of the range that starts with `prefix`, after the key whose last element is `after`. */
function* rangeAfter(db: { getRange(o: object): Iterable<{ key: Key; value: Buffer }> }, prefix: string[], after: string | undefined): Iterable<{ key: Key; value: Buffer }> {
  const start = after !== undefined ? [...prefix, after] : prefix;
  for (const entry of db.getRange({ start })) {
    if (prefix.some((p, i) => entry.key[i] !== p)) return;
    if (after !== undefined && entry.key[prefix.length] === after) continue;
    yield entry;
  }
}

export function createLmdbNamespaceRepository(store: EmbeddedStore): NamespaceRepository {
  const namespaces = store.openDB<Buffer, string>({ name: "namespaces", encoding: "binary" });
  const { encode, decode } = codec(NamespaceSchema);
  return {
    async create(ns) {
      return store.transaction(() => {
        if (namespaces.get(ns.name) !== undefined) return false;
        namespaces.put(ns.name, encode(ns));
        return true;
      });
    },
    async get(name) {
      return decode(namespaces.get(name));
    },
    async list({ limit, after }) {
      const out: Namespace[] = [];
      for (const { key, value } of namespaces.getRange(after !== undefined ? { start: after } : {})) {
        if (out.length >= limit) break;
        if (key === after) continue;
        out.push(decode(value)!);
      }
      return out;
    },
    async delete(name) {
      return store.transaction(() => {
        if (namespaces.get(name) === undefined) return false;
        namespaces.remove(name);
        return true;
      });
    },
  };
}

export function createLmdbConfigurationRepository(store: EmbeddedStore): ConfigurationRepository {
  const configurations = store.openDB<Buffer, [string, string]>({ name: "configurations", encoding: "binary" });
  const versions = store.openDB<Buffer, [string, string, number]>({ name: "configuration-versions", encoding: "binary" });
  const configs = codec(ConfigurationSchema);
  const vers = codec(ConfigurationVersionSchema);
  return {
    async get(namespace, name) {
      return configs.decode(configurations.get([namespace, name]));
    },
    async list(namespace, { limit, after }) {
      const out: Configuration[] = [];
      if (limit <= 0) return out;
      for (const { value } of rangeAfter(configurations as never, [namespace], after)) {
        out.push(configs.decode(value)!);
        if (out.length >= limit) break;
      }
      return out;
    },
    async create(configuration, first) {
      return store.transaction(() => {
        const key: [string, string] = [configuration.namespace, configuration.name];
        if (configurations.get(key) !== undefined) return false;
        configurations.put(key, configs.encode(configuration));
        versions.put([configuration.namespace, configuration.name, first.version], vers.encode(first));
        return true;
      });
    },
    async addVersion(configuration, version) {
      const ok = await store.transaction(() => {
        const stored = configs.decode(configurations.get([configuration.namespace, configuration.name]));
        if (!stored || stored.latestVersion !== version.version - 1) return false;
        configurations.put([configuration.namespace, configuration.name], configs.encode(configuration));
        versions.put([configuration.namespace, configuration.name, version.version], vers.encode(version));
        return true;
      });
      if (!ok) throw new ConfigurationVersionConflictError(configuration.namespace, configuration.name, version.version);
    },
    async getVersion(namespace, name, version) {
      return vers.decode(versions.get([namespace, name, version]));
    },
    async listVersions(namespace, name, { limit, before }) {
      const out: ConfigurationVersion[] = [];
      if (limit <= 0) return out;
      const start: [string, string, number] = [namespace, name, before ? before - 1 : Number.MAX_SAFE_INTEGER];
      for (const { key, value } of versions.getRange({ start, end: [namespace, name, 0], reverse: true })) {
        if (key[0] !== namespace || key[1] !== name) break;
        out.push(vers.decode(value)!);
        if (out.length >= limit) break;
      }
      return out;
    },
    async delete(namespace, name) {
      return store.transaction(() => {
        if (configurations.get([namespace, name]) === undefined) return false;
        configurations.remove([namespace, name]);
        for (const key of versions.getKeys({ start: [namespace, name, 0], end: [namespace, name, Number.MAX_SAFE_INTEGER] })) versions.remove(key);
        return true;
      });
    },
    async any(namespace) {
      for (const _ of rangeAfter(configurations as never, [namespace], undefined)) return true;
      return false;
    },
  };
}

export function createLmdbGroupRepository(store: EmbeddedStore): GroupRepository {
  const groups = store.openDB<Buffer, [string, string]>({ name: "groups", encoding: "binary" });
  const revisions = store.openDB<number, string>({ name: "group-revisions", encoding: "ordered-binary" });
  const { encode, decode } = codec(GroupSchema);
  // The revision moves in the same transaction as the write it announces.
  const bump = (namespace: string) => revisions.put(namespace, (revisions.get(namespace) ?? 0) + 1);
  return {
    async get(namespace, name) {
      return decode(groups.get([namespace, name]));
    },
    async list(namespace, { limit, after }) {
      const out: Group[] = [];
      if (limit <= 0) return out;
      for (const { value } of rangeAfter(groups as never, [namespace], after)) {
        out.push(decode(value)!);
        if (out.length >= limit) break;
      }
      return out;
    },
    async create(group) {
      return store.transaction(() => {
        if (groups.get([group.namespace, group.name]) !== undefined) return false;
        groups.put([group.namespace, group.name], encode(group));
        bump(group.namespace);
        return true;
      });
    },
    async update(group) {
      return store.transaction(() => {
        if (groups.get([group.namespace, group.name]) === undefined) return false;
        groups.put([group.namespace, group.name], encode(group));
        bump(group.namespace);
        return true;
      });
    },
    async delete(namespace, name) {
      return store.transaction(() => {
        if (groups.get([namespace, name]) === undefined) return false;
        groups.remove([namespace, name]);
        bump(namespace);
        return true;
      });
    },
    async revision(namespace) {
      return revisions.get(namespace) ?? 0;
    },
  };
}
