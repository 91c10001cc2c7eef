/**
 * The index names in a store's explain output: MongoDB's plan stages
 * (`indexName`) or, on FerretDB 2, PostgreSQL's plan nodes (`Index Name`,
 * which FerretDB fills with the MongoDB index names).
 */
export function indexesInPlan(plan: unknown): string[] {
  const names = new Set<string>();
  for (const m of JSON.stringify(plan).matchAll(/"(?:indexName|Index Name)":"([^"]+)"/g)) names.add(m[1]!);
  return [...names];
}
