import { createHash } from "node:crypto";
import type { AgentConfigMap } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { bytesEqual } from "@fleetplane/platform";

/**
 * The OpAMP config_hash identifies a configuration. The spec leaves the
 * function to the server; we take SHA-256 over a canonical encoding — files in
 * name order, each field length-prefixed — so the same files always give the
 * same hash, whatever order they were sent in, and no two different configs
 * can be made to collide by moving bytes between name, type and body.
 */
export function computeConfigHash(config: AgentConfigMap): Uint8Array {
  const h = createHash("sha256");
  const names = Object.keys(config.configMap).sort();
  const field = (bytes: Uint8Array) => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(bytes.length));
    h.update(len);
    h.update(bytes);
  };
  for (const name of names) {
    const file = config.configMap[name]!;
    field(Buffer.from(name, "utf8"));
    field(Buffer.from(file.contentType, "utf8"));
    field(file.body);
  }
  return new Uint8Array(h.digest());
}

/** Two config hashes are the same hash (an unset one matches nothing). */
export const hashesEqual = bytesEqual;
