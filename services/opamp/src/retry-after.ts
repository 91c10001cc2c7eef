/**
 * The retry hint, in the units each place needs it: RetryInfo carries
 * nanoseconds, the HTTP Retry-After header whole seconds (at least 1, so
 * a client never retries at once).
 */
export function retryAfterNanoseconds(retryAfterMs: number): bigint {
  return BigInt(Math.max(0, Math.round(retryAfterMs))) * 1_000_000n;
}

/** Retry-After header value (seconds, rounded up, at least 1) for a hint given in milliseconds. */
export function retryAfterHeader(retryAfterMs: number): string {
  return String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
}

/** Retry-After header value for a RetryInfo hint in nanoseconds. */
export function retryAfterHeaderFromNanoseconds(retryAfterNs: bigint): string {
  return retryAfterHeader(Number(retryAfterNs / 1_000_000n));
}
