/**
 * Byte equality of two small arrays (instance UIDs, hashes). A plain loop:
 * wrapping them in Buffers or converting to hex showed up in profiles of the
 * per-message path. A missing side is never equal.
 */
export function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
