import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { PackageSchema, type Package } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import type { EmbeddedStore } from "@fleetplane/platform-node";
import type { PackageRepository } from "../packages/package-repository.js";

/**
 * Registered packages in the embedded store, keyed by the tuple
 * [name, version] (lmdb-js orders array keys element by element, so a range
 * scan lists in name, then version order) and stored as the Package protobuf.
 */
export function createLmdbPackageRepository(store: EmbeddedStore): PackageRepository {
  const packages = store.openDB<Buffer, [string, string]>({ name: "packages", encoding: "binary" });
  // Decoded from a plain Uint8Array view, so bytes fields are Uint8Arrays like those of messages built in code.
  const decode = (bytes: Buffer | undefined) => (bytes ? fromBinary(PackageSchema, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)) : undefined);

  return {
    async insertIfAbsent(pkg) {
      const key: [string, string] = [pkg.name, pkg.version];
      const bytes = Buffer.from(toBinary(PackageSchema, pkg));
      // The check and the write in one transaction: concurrent registrations cannot both create.
      const existing = await store.transaction(() => {
        const found = packages.get(key);
        if (!found) packages.put(key, bytes);
        return found;
      });
      return existing ? { stored: decode(existing)!, created: false } : { stored: pkg, created: true };
    },
    async get({ name, version }) {
      return decode(packages.get([name, version]));
    },
    async list({ name, limit, after }) {
      const out: Package[] = [];
      if (limit <= 0) return out;
      const start = after ? [after.name, after.version] : name !== undefined ? [name] : undefined;
      for (const { key, value } of packages.getRange(start ? { start } : {})) {
        if (after && key[0] === after.name && key[1] === after.version) continue;
        if (name !== undefined && key[0] !== name) {
          if (key[0] > name) break;
          continue;
        }
        out.push(decode(value)!);
        if (out.length >= limit) break;
      }
      return out;
    },
    async delete({ name, version }) {
      return store.transaction(() => {
        if (packages.get([name, version]) === undefined) return false;
        packages.remove([name, version]);
        return true;
      });
    },
  };
}
