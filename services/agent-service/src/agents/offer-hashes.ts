import { clone, toBinary } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import {
  ConnectionSettingsOffersSchema,
  PackageAvailableSchema,
  type ConnectionSettingsOffers,
  type PackageAvailable,
} from "@fleetplane/gen/opamp/proto/opamp_pb";

/**
 * The hashes the server computes for its offers. The spec leaves the
 * algorithm to the server; agents only compare them, so what matters is that
 * the same offer always gets the same hash.
 */

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const p of parts) {
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(p.length));
    h.update(len).update(p);
  }
  return new Uint8Array(h.digest());
};

/** SHA-256 over the offers with `other_connections` in name order (maps have no order on the wire). */
export function computeConnectionSettingsHash(offers: ConnectionSettingsOffers): Uint8Array {
  const canonical = clone(ConnectionSettingsOffersSchema, offers);
  canonical.hash = new Uint8Array();
  canonical.otherConnections = Object.fromEntries(Object.keys(offers.otherConnections).sort().map((k) => [k, offers.otherConnections[k]!]));
  return sha256(toBinary(ConnectionSettingsOffersSchema, canonical));
}

/** A package's hash when the admin gave none: over its type, version and file. */
export function computePackageHash(pkg: PackageAvailable): Uint8Array {
  const canonical = clone(PackageAvailableSchema, pkg);
  canonical.hash = new Uint8Array();
  return sha256(toBinary(PackageAvailableSchema, canonical));
}

/** all_packages_hash: over every package's name and hash, in name order. */
export function computeAllPackagesHash(packages: Record<string, PackageAvailable>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const name of Object.keys(packages).sort()) parts.push(Buffer.from(name, "utf8"), packages[name]!.hash);
  return sha256(...parts);
}
