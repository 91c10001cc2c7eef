import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { PackageSchema, type Package } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import type { EmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import type { PackageRepository } from "../packages/package-repository.js";
import { DEFAULT_NAMESPACE } from "../fleet/resource-names.js";

type Key = [namespace: string, name: string, version: string];

/**
 * Registered packages in the embedded store, keyed by the tuple
 * [namespace, name, version] (lmdb-js orders array keys element by element,
 * so a range scan lists one namespace in name, then version order) and
 * stored as the Package protobuf.
 *
 * Packages stored before namespaces were keyed [name, version]: the first
 * use of the repository moves them to ["default", name, version], in one
 * transaction (a handful of entries; a store without them is looked at once).
 */
export function createLmdbPackageRepository(store: EmbeddedStore): PackageRepository {
  const packages = store.openDB<Buffer, Key | [string, string]>({ name: "packages", encoding: "binary" });
  // Decoded from a plain Uint8Array view, so bytes fields are Uint8Arrays like those of messages built in code.
  const decode = (bytes: Buffer | undefined) => (bytes ? fromBinary(PackageSchema, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)) : undefined);
  let migrated: Promise<void> | undefined;
  const ready = () => (migrated ??= migrate());

  async function migrate(): Promise<void> {
    await store.transaction(() => {
      for (const { key, value } of packages.getRange({})) {
        if (key.length !== 2) continue;
        const pkg = decode(value)!;
        pkg.namespace = DEFAULT_NAMESPACE;
        packages.put([DEFAULT_NAMESPACE, key[0], key[1]], Buffer.from(toBinary(PackageSchema, pkg)));
        packages.remove(key);
      }
    });
  }

  return {
    async insertIfAbsent(pkg) {
      await ready();
      const key: Key = [pkg.namespace || DEFAULT_NAMESPACE, pkg.name, pkg.version];
      const bytes = Buffer.from(toBinary(PackageSchema, pkg));
      // The check and the write in one transaction: concurrent registrations cannot both create.
      const existing = await store.transaction(() => {
        const found = packages.get(key);
        if (!found) packages.put(key, bytes);
        return found;
      });
      return existing ? { stored: decode(existing)!, created: false } : { stored: pkg, created: true };
    },
    async get(namespace, { name, version }) {
      await ready();
      return decode(packages.get([namespace, name, version]));
    },
    async list(namespace, { name, limit, after }) {
      await ready();
      const out: Package[] = [];
      if (limit <= 0) return out;
      const start = after ? [namespace, after.name, after.version] : name !== undefined ? [namespace, name] : [namespace];
      for (const { key, value } of packages.getRange({ start })) {
        if (key.length !== 3 || key[0] !== namespace) break;
        const [, n, v] = key;
        if (after && n === after.name && v === after.version) continue;
        if (name !== undefined && n !== name) {
          if (n > name) break;
          continue;
        }
        out.push(decode(value)!);
        if (out.length >= limit) break;
      }
      return out;
    },
    async delete(namespace, { name, version }) {
      await ready();
      return store.transaction(() => {
        if (packages.get([namespace, name, version]) === undefined) return false;
        packages.remove([namespace, name, version]);
        return true;
      });
    },
  };
}
