import { toJson } from "@bufbuild/protobuf";
import { PreflightResultSchema, type PreflightResult } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { formatHelp, parseOptions, UsageError, type OptionSpec } from "@fleetplane/platform";
import { stringify } from "yaml";
import { ADMIN_OPTIONS, adminClient, expandShortFlags } from "../fleet-cli/admin-client.js";
import { parseVersion } from "./rollout-flags.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "group", kind: "string", description: "The group whose agents are checked (required)" },
  { name: "version", kind: "string", description: "The version of the group's configuration to check (required)" },
  { name: "namespace", kind: "string", description: "The group's namespace (-n)", default: "default" },
  { name: "output", kind: "string", description: "table, json or yaml (-o)", default: "table" },
  ...ADMIN_OPTIONS,
];

const SUMMARY = `Checks a version of a group's configuration against the group's agents, as a
rollout does before it starts: the YAML parses, and every component it names
(receivers, processors, exporters, extensions, connectors, and those
service.pipelines refers to) is in each agent's reported available_components.
Lists the agents lacking a component (and which), those that never reported
their components (unknown: a warning), and how many pass. Exit 1 when an
agent lacks a component or the YAML does not parse, else 0.`;

/** Unknown agents named before "… and N more" (a fleet can have thousands). */
const UNKNOWN_SHOWN = 20;

/** `fleetplane preflight`: returns the exit code. */
export async function runPreflight(argv: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values, help } = parseOptions(OPTIONS, expandShortFlags(argv, { "-n": "namespace", "-o": "output" }));
  if (help) {
    out.write(formatHelp("fleetplane preflight --group <group> --version <n> [-n namespace] [-o table|json|yaml]", SUMMARY, OPTIONS));
    return 0;
  }
  if (values.group === undefined || values.group === "") throw new UsageError("--group is needed: the group whose agents to check (see --help)");
  const version = parseVersion("version", values.version);
  const format = String(values.output);
  if (format !== "table" && format !== "json" && format !== "yaml") throw new UsageError(`--output must be table, json or yaml, got "${format}"`);
  const { result } = await adminClient(values).rollouts.preflight({ namespace: String(values.namespace), group: String(values.group), version });
  const r = result!;
  if (format === "json") out.write(JSON.stringify(toJson(PreflightResultSchema, r), null, 2) + "\n");
  else if (format === "yaml") out.write(stringify(toJson(PreflightResultSchema, r)));
  else out.write(preflightText(String(values.group), version, r));
  return r.yamlError || r.missing.length > 0 ? 1 : 0;
}

/** The result as a person reads it: what the version names, then the agents by verdict. */
export function preflightText(group: string, version: number, r: PreflightResult): string {
  const lines = [`preflight of version ${version} for group ${group}`];
  if (r.yamlError) lines.push(`  YAML error: ${r.yamlError} (a rollout of this version refuses to start)`);
  if (r.componentCheckSkipped) lines.push(`  component check skipped: ${r.reason}`);
  else lines.push(`  components named (${r.components.length}): ${r.components.join(", ") || "none"}`);
  lines.push(`  missing a component: ${r.missing.length} agent(s)`);
  for (const m of r.missing) lines.push(`    ${m.instanceUid}  lacks ${m.missingComponents.join(", ")}`);
  lines.push(`  unknown (never reported their components): ${r.unknown.length} agent(s)`);
  for (const uid of r.unknown.slice(0, UNKNOWN_SHOWN)) lines.push(`    ${uid}`);
  if (r.unknown.length > UNKNOWN_SHOWN) lines.push(`    … and ${r.unknown.length - UNKNOWN_SHOWN} more`);
  lines.push(`  passed: ${r.passed.length} agent(s)`);
  return lines.join("\n") + "\n";
}
