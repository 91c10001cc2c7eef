import { parseArgs } from "node:util";

/**
 * Every setting can come from a flag or an environment variable (flags win),
 * and `--help` lists both with the default, so operators never have to read
 * code to configure a service.
 */
export interface OptionSpec {
  /** Flag name without dashes, e.g. "opamp-port". */
  name: string;
  kind: "string" | "number" | "boolean";
  description: string;
  /** Default as text; omitted means "unset". */
  default?: string;
}

export type OptionValues = Record<string, string | number | boolean | undefined>;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export function envName(optionName: string): string {
  return `FLEETPLANE_${optionName.toUpperCase().replaceAll("-", "_")}`;
}

export function parseOptions(
  specs: readonly OptionSpec[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): { values: OptionValues; help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        ...Object.fromEntries(specs.map((s) => [s.name, { type: s.kind === "boolean" ? "boolean" : "string" } as const])),
        // Node 20's parseArgs has no negation: `--no-<name>` is declared
        // explicitly so a boolean that defaults to true can be turned off.
        ...Object.fromEntries(specs.filter((s) => s.kind === "boolean").map((s) => [`no-${s.name}`, { type: "boolean" } as const])),
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see --help)`);
  }
  const values: OptionValues = {};
  for (const spec of specs) {
    const given = parsed.values as Record<string, string | boolean | undefined>;
    const negated = spec.kind === "boolean" && given[`no-${spec.name}`] === true ? false : undefined;
    const raw = given[spec.name] ?? negated ?? env[envName(spec.name)] ?? spec.default;
    values[spec.name] = raw === undefined ? undefined : convert(spec, raw);
  }
  return { values, help: parsed.values.help === true };
}

function convert(spec: OptionSpec, raw: string | boolean): string | number | boolean {
  if (spec.kind === "boolean") {
    if (typeof raw === "boolean") return raw;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new UsageError(`--${spec.name} (or ${envName(spec.name)}) must be true or false, got "${raw}"`);
  }
  if (spec.kind === "number") {
    const n = Number(raw);
    if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(n)) {
      throw new UsageError(`--${spec.name} (or ${envName(spec.name)}) must be a number, got "${String(raw)}"`);
    }
    return n;
  }
  return String(raw);
}

export function formatHelp(usage: string, summary: string, specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => {
    const flag = s.kind === "boolean" ? `--[no-]${s.name}` : `--${s.name} <${s.kind}>`;
    const dflt = s.default === undefined ? "" : ` (default: ${s.default})`;
    return `  ${flag.padEnd(34)} ${s.description}${dflt}\n  ${"".padEnd(34)} env: ${envName(s.name)}`;
  });
  return `Usage: ${usage}\n\n${summary}\n\nOptions:\n${rows.join("\n")}\n  ${"--help, -h".padEnd(34)} Show this help.\n`;
}
