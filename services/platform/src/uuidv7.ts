import { randomFillSync } from "node:crypto";

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits, with the
 * version and variant bits set. The OpAMP spec recommends v7 for new instance
 * UIDs because they sort by creation time.
 */
export function uuidv7Bytes(now: number = Date.now()): Uint8Array {
  const bytes = new Uint8Array(16);
  randomFillSync(bytes, 6);
  const ms = BigInt(now);
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return bytes;
}
