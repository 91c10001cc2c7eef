/** What a probe returns while the condition does not hold yet. */
export type NotYet = undefined | null | false | "";

/**
 * Polls `probe` until it returns a value or the time runs out, every
 * `intervalMs` (a probe that reads the store: poll it more slowly in long
 * waits, or the test itself becomes the store's load).
 *
 * "Not yet" is undefined, null, false or the empty string: a probe that reads
 * output, a field or a lookup returns one of those while there is nothing to
 * see, and a test that waited for "the log line" or "the agent's name" must
 * not pass on an empty one. 0 is a value (a count can be waited for).
 */
export async function eventually<T>(probe: () => Promise<T | NotYet> | T | NotYet, timeoutMs = 10_000, what = "condition", intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (!isNotYet(v)) return v as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function isNotYet(v: unknown): v is NotYet {
  return v === undefined || v === null || v === false || v === "";
}
