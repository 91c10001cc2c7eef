/**
 * Makes every byte array inside `value` (a decoded protobuf message: plain
 * objects, arrays, oneof `{ case, value }`, maps as objects) own its bytes,
 * and returns `value`.
 *
 * Why: protobuf-es decodes a `bytes` field as a view (subarray) of the
 * buffer it decoded — a WebSocket frame, a whole HTTP/2 request body of a
 * batch. Kept for as long as an agent is connected (a cached agent's
 * effective config or hashes, a connection's instance UID), a 16-byte view
 * holds the whole buffer: ~1 KiB per idle agent (docs/performance.md §13).
 * A view that already spans its whole buffer is left as it is; so is
 * anything that is not a plain object, array or byte array.
 */
export function ownBytes<T>(value: T): T {
  own(value);
  return value;
}

function own(value: unknown): void {
  if (typeof value !== "object" || value === null) return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (v instanceof Uint8Array) value[i] = owned(v);
      else own(v);
    }
    return;
  }
  if (ArrayBuffer.isView(value)) return;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const v = record[key];
    if (v instanceof Uint8Array) record[key] = owned(v);
    else own(v);
  }
}

function owned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
}
