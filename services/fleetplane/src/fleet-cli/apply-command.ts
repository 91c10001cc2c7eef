import { formatHelp, parseOptions, UsageError, type OptionSpec } from "@fleetplane/platform";
import { ADMIN_OPTIONS, adminClient, expandShortFlags } from "./admin-client.js";
import { applyPlan, planApply, type PlanStep } from "./apply-plan.js";
import { manifestFiles, readFleetDocuments } from "./fleet-documents.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "file", kind: "string", description: "A YAML file, or a directory whose *.yaml and *.yml files are read in name order (-f)" },
  { name: "namespace", kind: "string", description: "Namespace of documents that name none (-n)", default: "default" },
  { name: "yes", kind: "boolean", description: "Apply the plan (without it: print the plan only; not read from the environment)", default: "false" },
  ...ADMIN_OPTIONS,
];

const SUMMARY = `Makes the fleet match YAML documents (kinds Namespace, Configuration, Group).
Prints a plan first: each document created, changed or unchanged, and how
many agents each group change moves; applies it with --yes. A configuration
gets a new version only when its files changed, so applying the same files
again changes nothing. Every document is checked before anything is applied:
one invalid document (YAML, kind, field, selector, a missing configuration)
applies none.`;

/** `fleetplane apply`: returns the exit code (0: planned or applied; 1: invalid documents; 2: usage). */
export async function runApply(argv: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  // --yes only from the command line: an exported variable must not turn every plan into an apply.
  const { FLEETPLANE_YES: _ignored, ...env } = process.env;
  const { values, help } = parseOptions(OPTIONS, expandShortFlags(argv, { "-f": "file", "-n": "namespace" }), env);
  if (help) {
    out.write(formatHelp("fleetplane apply -f <file or directory> [-n namespace] [--yes] [--server URL] [--api-key KEY]", SUMMARY, OPTIONS));
    return 0;
  }
  if (values.file === undefined) throw new UsageError("fleetplane apply needs -f <file or directory> (see --help)");
  const files = await manifestFiles(String(values.file));
  const { documents, errors } = await readFleetDocuments(files, String(values.namespace));
  const client = adminClient(values);
  const plan = errors.length > 0 ? { steps: [], errors } : await planApply(client, documents);
  if (plan.errors.length > 0) {
    for (const e of plan.errors) out.write(`error: ${e.message}\n`);
    out.write(`Nothing applied: ${plan.errors.length} invalid document(s).\n`);
    return 1;
  }
  out.write(`Plan (${plan.steps.length} document(s) in ${files.length} file(s)):\n`);
  writeSteps(out, plan.steps, "moves");
  const count = (a: PlanStep["action"]) => plan.steps.filter((s) => s.action === a).length;
  out.write(`${count("created")} to create, ${count("changed")} to change, ${count("unchanged")} unchanged.\n`);
  if (count("created") + count("changed") === 0) return 0;
  if (values.yes !== true) {
    out.write("Nothing applied: run again with --yes to apply.\n");
    return 0;
  }
  const done = await applyPlan(client, plan);
  out.write("Applied:\n");
  writeSteps(out, done.filter((s) => s.action !== "unchanged"), "moved");
  return 0;
}

function writeSteps(out: NodeJS.WritableStream, steps: readonly PlanStep[], verb: string): void {
  const width = Math.max(0, ...steps.map((s) => s.resource.length));
  for (const s of steps) {
    const moved = s.agentsMoved === undefined || s.action === "unchanged" ? "" : `  (${verb} ${s.agentsMoved} agent${s.agentsMoved === 1 ? "" : "s"})`;
    out.write(`  ${s.resource.padEnd(width)}  ${s.action.padEnd(9)}  ${s.detail}${moved}\n`.replace(/ +\n$/, "\n"));
  }
}
