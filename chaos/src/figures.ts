/**
 * Chaos scenarios print figures, not verdicts: one block per scenario, one
 * "name: value" line per figure (nested figures flattened with dots), so a
 * run can be read by eye and pasted into the README's Reliability table.
 */
export function formatFigures(title: string, figures: object): string {
  const lines = [`== ${title}`];
  const walk = (prefix: string, value: unknown) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}.${k}` : k, v);
    } else lines.push(`  ${prefix}: ${Array.isArray(value) ? value.join(", ") : String(value)}`);
  };
  walk("", figures);
  return lines.join("\n");
}
