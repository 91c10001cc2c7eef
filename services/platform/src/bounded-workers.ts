/**
 * Runs `work` over `items` with at most `concurrency` calls in flight, in
 * order of the items, and resolves when all are done. Used where one call per
 * item would flood a store or a socket (liveness flushes, push fan-out) and
 * one at a time would be too slow. `work` must not throw: a rejection stops
 * that worker's share and rejects the whole run.
 */
export async function runBounded<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), items.length) }, worker));
}
