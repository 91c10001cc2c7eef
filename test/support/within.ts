/**
 * `work`'s outcome, or a failure naming `what` once `ms` have passed: a call
 * that never answers (a store that stalled) fails its test in seconds and
 * says which call it was, instead of meeting the test's own timeout.
 * `detail`, read only when the time is up, adds where it stood (a step, the
 * servers' last log lines); a `detail` that throws says so instead.
 */
export async function within<T>(work: Promise<T>, ms: number, what: string, detail?: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s${detail ? `; ${readDetail(detail)}` : ""}`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

function readDetail(detail: () => string): string {
  try {
    return detail();
  } catch (err) {
    return `(the detail could not be read: ${String(err)})`;
  }
}
