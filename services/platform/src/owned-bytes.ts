/**
 * Makes the byte arrays inside `value` (a decoded protobuf message: plain
 * objects, arrays, oneof `{ case, value }`, maps as objects) stop viewing
 * the buffers they were decoded from, and returns `value`: every one that
 * does not span its whole buffer is copied into one new buffer the message
 * owns, and points into it.
 *
 * Why: protobuf-es decodes a `bytes` field as a view (subarray) of the
 * buffer it decoded — a WebSocket frame, a whole HTTP/2 request body of a
 * batch. Kept for as long as an agent is connected (a cached agent's
 * effective config or hashes), a 16-byte view holds the whole buffer
 * (docs/performance.md §13). One buffer for all of them, not one each: a
 * buffer of its own costs ~150 bytes besides its content, more than most
 * of these fields hold (a 16-byte UID, a 32-byte hash).
 *
 * A frozen object is left as it is, with all it holds: its fields cannot be
 * replaced anyway, and the frozen parts of a message are values shared with
 * others that own their bytes already (agent-service's SharedValues) — most
 * of a cached agent's description, which a new agent's walk would otherwise
 * visit field by field.
 */
export function ownBytes<T>(value: T): T {
  const views: Array<{ holder: Record<string | number, unknown>; key: string | number; bytes: Uint8Array }> = [];
  collect(value, views);
  if (views.length === 0) return value;
  let total = 0;
  for (const v of views) total += v.bytes.byteLength;
  const owned = new Uint8Array(total);
  let at = 0;
  for (const v of views) {
    owned.set(v.bytes, at);
    v.holder[v.key] = owned.subarray(at, at + v.bytes.byteLength);
    at += v.bytes.byteLength;
  }
  return value;
}

function collect(value: unknown, views: Array<{ holder: Record<string | number, unknown>; key: string | number; bytes: Uint8Array }>): void {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) visit(value as unknown as Record<number, unknown>, i, views);
    return;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return;
  for (const key in value) visit(value as Record<string, unknown>, key, views);
}

function visit(holder: Record<string | number, unknown>, key: string | number, views: Array<{ holder: Record<string | number, unknown>; key: string | number; bytes: Uint8Array }>): void {
  const v = holder[key];
  if (v instanceof Uint8Array) {
    if (v.byteOffset !== 0 || v.byteLength !== v.buffer.byteLength) views.push({ holder, key, bytes: v });
  } else collect(v, views);
}
