/**
 * `work`'s outcome, or a failure naming `what` once `ms` have passed: a call
 * that never answers (a store that stalled) fails its test in seconds and
 * says which call it was, instead of meeting the test's own timeout.
 */
export async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
