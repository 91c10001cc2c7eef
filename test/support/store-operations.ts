/** Store operations a process has made so far, by "repository.operation", from its /metrics. */
export async function storeOperations(url: string): Promise<Map<string, number>> {
  // Bounded: a scrape also refreshes gauges that query the store, which a store far behind answers late.
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(120_000) })).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^fleetplane_store_operation_duration_seconds_count\{([^}]*)\} (\d+)/gm)) {
    const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(m[1]!)?.[1] ?? "?";
    out.set(`${label("repository")}.${label("operation")}`, Number(m[2]));
  }
  return out;
}

/** The operations made between two readings of each process, summed over them, most frequent first. */
export function operationsBetween(before: Array<Map<string, number>>, after: Array<Map<string, number>>): { total: number; top: Array<[string, number]> } {
  const total = new Map<string, number>();
  after.forEach((counts, i) => {
    for (const [op, n] of counts) total.set(op, (total.get(op) ?? 0) + n - (before[i]!.get(op) ?? 0));
  });
  const top = [...total].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  return { total: top.reduce((sum, [, n]) => sum + n, 0), top };
}

/** "1234 (agents.save 400, …)": the total and the eight most frequent. */
export function describeOperations(ops: { total: number; top: Array<[string, number]> }): string {
  return `${ops.total} (${ops.top.slice(0, 8).map(([op, n]) => `${op} ${n}`).join(", ")})`;
}
