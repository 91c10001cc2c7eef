import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { FleetplaneClient } from "@fleetplane/client";
import { RolloutSchema, RolloutState, type Rollout } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { formatHelp, parseOptions, UsageError, type OptionSpec, type OptionValues } from "@fleetplane/platform";
import { stringify } from "yaml";
import { ADMIN_OPTIONS, adminClient, expandShortFlags } from "../fleet-cli/admin-client.js";
import { structured } from "../fleet-cli/output-format.js";
import { startRequestOf } from "./rollout-flags.js";
import { isFinished, listText, progressLine, stageLine, statusText } from "./rollout-view.js";

/** `rollout watch` exit codes: a script can tell a finished rollout from one that waits for an admin. */
export const WATCH_EXIT = { succeeded: 0, failed: 1, paused: 3 } as const;

/** Times a broken watch stream is reopened in a row before `watch` gives up. */
const WATCH_RETRIES = 5;

const NAMESPACE: OptionSpec = { name: "namespace", kind: "string", description: "The rollout's namespace (-n)", default: "default" };
const OUTPUT: OptionSpec = { name: "output", kind: "string", description: "table, json or yaml (-o)", default: "table" };
const GROUP_PICK: OptionSpec = { name: "group", kind: "string", description: "Instead of an id: the group's newest rollout" };
const REASON: OptionSpec = { name: "reason", kind: "string", description: "Recorded with the decision and in the audit trail" };

const START_OPTIONS: readonly OptionSpec[] = [
  { name: "group", kind: "string", description: "The group whose agents move (required)" },
  { name: "to-version", kind: "string", description: "The version of the group's configuration to move to (required)" },
  {
    name: "stages",
    kind: "string",
    description: "Comma-separated stages: N agents (a canary), N% (cumulative share; the last must be 100%), or hex instance UIDs joined by + (none: 1,10%,50%,100%)",
  },
  { name: "bake", kind: "string", description: "How long a stage's agents must stay healthy and connected after all applied, e.g. 30s, 5m; 0 passes at once (server default 60s)" },
  { name: "stage-timeout", kind: "string", description: "Agents that report neither APPLIED nor FAILED this long after their stage started fail it (server default 10m)" },
  { name: "max-failed", kind: "string", description: "A stage fails when MORE than this many agents (3) or this share of them (2%) fail it (default 0)" },
  { name: "on-failure", kind: "string", description: "pause (wait for an admin) or rollback (give the moved agents the previous version) (server default pause)" },
  { name: "skip-failed-agents", kind: "boolean", description: "Start although preflight finds agents lacking a component: they are left out", default: "false" },
  { name: "watch", kind: "boolean", description: "Then follow it as `rollout watch` does (and exit as it does)", default: "false" },
  NAMESPACE,
  ...ADMIN_OPTIONS,
];

interface Subcommand {
  usage: string;
  summary: string;
  options: readonly OptionSpec[];
  /** Takes the rollout id as its first argument (or --group). */
  byId: boolean;
  run: (client: FleetplaneClient, values: OptionValues, id: string, out: NodeJS.WritableStream) => Promise<number>;
}

/** pause, resume, abort and rollback: one decision on one rollout, then its state. */
function decision(verb: "pause" | "resume" | "abort" | "rollback", summary: string): Subcommand {
  return {
    usage: `fleetplane rollout ${verb} <id> | --group <group> [--reason TEXT] [-n namespace]`,
    summary,
    options: [GROUP_PICK, REASON, NAMESPACE, ...ADMIN_OPTIONS],
    byId: true,
    async run(client, values, id, out) {
      const req = { namespace: String(values.namespace), id, reason: values.reason === undefined ? "" : String(values.reason) };
      const calls = {
        pause: () => client.rollouts.pauseRollout(req),
        resume: () => client.rollouts.resumeRollout(req),
        abort: () => client.rollouts.abortRollout(req),
        rollback: () => client.rollouts.rollbackRollout(req),
      };
      const { rollout } = await calls[verb]();
      out.write(statusText(rollout!));
      return 0;
    },
  };
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  start: {
    usage: "fleetplane rollout start --group <group> --to-version <n> [--stages 5,10%,50%,100%] [--bake 30s] [--stage-timeout 10m] [--max-failed 3|2%] [--on-failure pause|rollback] [--skip-failed-agents] [--watch]",
    summary: `Starts moving a group to another version of its configuration, stage by stage.
Preflight runs first: the server refuses when an agent lacks a component the
version names (unless --skip-failed-agents). Prints the rollout's id.`,
    options: START_OPTIONS,
    byId: false,
    async run(client, values, _id, out) {
      const { rollout, preflight } = await client.rollouts.startRollout(startRequestOf(values));
      const r = rollout!;
      out.write(`rollout ${r.id} started: group ${r.group}, ${r.configuration} v${r.fromVersion} → v${r.toVersion}, ${r.stages.length} stages\n`);
      if (preflight?.componentCheckSkipped) out.write(`preflight: component check skipped: ${preflight.reason}\n`);
      if (preflight && preflight.unknown.length > 0) out.write(`preflight: ${preflight.unknown.length} agent(s) never reported their components (the health gate still judges them)\n`);
      if (r.skippedAgents.length > 0) out.write(`preflight: ${r.skippedAgents.length} agent(s) lacking a component left out; they keep v${r.fromVersion}\n`);
      return values.watch === true ? watch(client, r.namespace, r.id, out) : 0;
    },
  },
  status: {
    usage: "fleetplane rollout status <id> | --group <group> [-n namespace] [-o table|json|yaml]",
    summary: "Shows a rollout: its state and why, and each stage with its progress, counts and failing agents.",
    options: [GROUP_PICK, NAMESPACE, OUTPUT, ...ADMIN_OPTIONS],
    byId: true,
    async run(client, values, id, out) {
      const { rollout } = await client.rollouts.getRollout({ namespace: String(values.namespace), id });
      const format = outputFormat(values);
      out.write(format === "table" ? statusText(rollout!) : single(rollout!, format));
      return 0;
    },
  },
  list: {
    usage: "fleetplane rollout list [--group <group>] [-n namespace] [-o table|json|yaml]",
    summary: "Lists a namespace's rollouts (or a group's), newest first.",
    options: [{ name: "group", kind: "string", description: "Only this group's rollouts" }, NAMESPACE, OUTPUT, ...ADMIN_OPTIONS],
    byId: false,
    async run(client, values, _id, out) {
      const format = outputFormat(values);
      const rollouts: Rollout[] = [];
      for (let pageToken = ""; ; ) {
        const page = await client.rollouts.listRollouts({ namespace: String(values.namespace), group: values.group === undefined ? "" : String(values.group), pageSize: 100, pageToken });
        rollouts.push(...page.rollouts);
        if (!page.nextPageToken) break;
        pageToken = page.nextPageToken;
      }
      out.write(format === "table" ? listText(rollouts) : structured(RolloutSchema, rollouts, format));
      return 0;
    },
  },
  watch: {
    usage: "fleetplane rollout watch <id> | --group <group> [-n namespace]",
    summary: `Follows a rollout live (WatchRollouts): a line for each change of the stage under
way, and each stage's result with the time it took. Ends when the rollout
does: exit 0 when it succeeded, 1 when it was aborted or rolled back, 3 when
it paused (it waits for an admin: resume, rollback or abort).`,
    options: [GROUP_PICK, NAMESPACE, ...ADMIN_OPTIONS],
    byId: true,
    run: (client, values, id, out) => watch(client, String(values.namespace), id, out),
  },
  pause: decision("pause", "Pauses a running rollout: agents keep what they were given; nothing more moves until it is resumed."),
  resume: decision("resume", "Resumes a paused rollout: the stage under way is judged afresh (its agents keep what they have)."),
  abort: decision("abort", "Stops a rollout for good: agents keep what they were given."),
  rollback: decision("rollback", "Gives the agents the rollout moved the previous version again; no other agent is touched."),
};

const SUMMARY = `Staged rollouts: move a group to another version of its configuration stage by
stage, each judged by what its agents report.

Commands:
  start     Start a rollout (preflight first)
  status    A rollout's state, stages, counts and failing agents
  list      A namespace's rollouts, newest first
  watch     Follow a rollout live until it ends (exit code: 0 succeeded, 1 failed, 3 paused)
  pause     Pause a running rollout
  resume    Resume a paused rollout
  abort     Stop a rollout; agents keep what they have
  rollback  Give the moved agents the previous version again

Run "fleetplane rollout <command> --help" for its options. See also "fleetplane preflight".`;

/** `fleetplane rollout <command>`: returns the exit code. */
export async function runRollout(argv: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    out.write(`Usage: fleetplane rollout <command> [options]\n\n${SUMMARY}\n`);
    return 0;
  }
  const sub = SUBCOMMANDS[name];
  if (!sub) throw new UsageError(`fleetplane rollout has no command "${name}": use one of ${Object.keys(SUBCOMMANDS).join(", ")} (see fleetplane rollout --help)`);
  const positional = sub.byId && rest[0] !== undefined && !rest[0].startsWith("-") ? rest[0] : undefined;
  const { values, help } = parseOptions(sub.options, expandShortFlags(positional === undefined ? rest : rest.slice(1), { "-n": "namespace", "-o": "output" }), envWithout(["FLEETPLANE_WATCH"]));
  if (help) {
    out.write(formatHelp(sub.usage, sub.summary, sub.options));
    return 0;
  }
  if (values.output !== undefined) outputFormat(values); // refused before any call
  const client = adminClient(values);
  const id = sub.byId ? await rolloutId(client, values, positional) : "";
  return sub.run(client, values, id, out);
}

/** The environment without variables that would make every command block: --watch comes from the command line only (like apply's --yes). */
function envWithout(names: readonly string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const n of names) delete env[n];
  return env;
}

/** The id given, or the newest rollout of --group. */
async function rolloutId(client: FleetplaneClient, values: OptionValues, given: string | undefined): Promise<string> {
  const group = values.group === undefined ? "" : String(values.group);
  if (given !== undefined && group) throw new UsageError("give a rollout id or --group, not both");
  if (given !== undefined) return given;
  if (!group) throw new UsageError("name the rollout: its id (see fleetplane rollout list) or --group <group> for the group's newest");
  const { rollouts } = await client.rollouts.listRollouts({ namespace: String(values.namespace), group, pageSize: 1 });
  if (rollouts.length === 0) throw new UsageError(`--group: group "${group}" has no rollout in namespace "${String(values.namespace)}"`);
  return rollouts[0]!.id;
}

function outputFormat(values: OptionValues): "table" | "json" | "yaml" {
  const format = String(values.output);
  if (format !== "table" && format !== "json" && format !== "yaml") throw new UsageError(`--output must be table, json or yaml, got "${format}"`);
  return format;
}

function single(r: Rollout, format: "json" | "yaml"): string {
  const plain = toJson(RolloutSchema, r);
  return format === "json" ? JSON.stringify(plain, null, 2) + "\n" : stringify(plain);
}

/**
 * Follows one rollout until it ends or pauses. Prints the stage under way
 * whenever its line changes, and each stage's result once, when it is
 * decided. A stream that breaks (a restart, a replica gone) is reopened:
 * the first message of a new stream is the rollout's current state.
 */
export async function watch(client: FleetplaneClient, namespace: string, id: string, out: NodeJS.WritableStream): Promise<number> {
  let last = "";
  const decided = new Set<number>();
  for (let failures = 0; ; ) {
    try {
      for await (const { rollout: r } of client.rollouts.watchRollouts({ namespace, id })) {
        failures = 0;
        if (!r) continue;
        r.stages.forEach((s, i) => {
          if (s.finishedAt && !decided.has(i)) {
            decided.add(i);
            out.write(`  ${stageLine(r, i)}\n`);
          }
        });
        const line = progressLine(r);
        if (line !== last) out.write(`${line}\n`);
        last = line;
        if (r.state === RolloutState.SUCCEEDED) return WATCH_EXIT.succeeded;
        if (isFinished(r)) return WATCH_EXIT.failed;
        if (r.state === RolloutState.PAUSED) return WATCH_EXIT.paused;
      }
    } catch (err) {
      if (!(err instanceof ConnectError) || err.code !== Code.Unavailable) throw err;
    }
    // The stream ended or broke with the rollout still under way.
    if (++failures > WATCH_RETRIES) throw new ConnectError(`the watch on rollout ${id} broke ${WATCH_RETRIES} times in a row`, Code.Unavailable);
    await new Promise((r) => setTimeout(r, 500 * failures));
  }
}
