import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ConfigSource, type Agent, type FleetplaneClient } from "@fleetplane/client";
import { AgentSchema } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { ConfigurationSchema, NamespaceSchema } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { GroupWithStatusSchema } from "@fleetplane/gen/fleetplane/fleet/v1/group_service_pb";
import { formatHelp, instanceUidToHex, parseOptions, UsageError, type OptionSpec } from "@fleetplane/platform";
import { ADMIN_OPTIONS, adminClient, expandShortFlags } from "./admin-client.js";
import { structured, table, type OutputFormat } from "./output-format.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "namespace", kind: "string", description: "The namespace to list (-n; namespaces ignore it)", default: "default" },
  { name: "output", kind: "string", description: "table, json or yaml (-o)", default: "table" },
  ...ADMIN_OPTIONS,
];

const RESOURCES = ["agents", "groups", "configurations", "namespaces"] as const;
type Resource = (typeof RESOURCES)[number];

const SUMMARY = `Lists agents (with their group, configuration version and why), groups (with
their status counts), configurations (with their latest version) or namespaces.
json and yaml print the API's own messages.`;

/** `fleetplane get <resource>`: returns the exit code. */
export async function runGet(argv: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [first, ...rest] = argv;
  const resource = RESOURCES.find((r) => r === first || r === first?.replace(/s?$/, "s"));
  if (!resource && first !== undefined && !first.startsWith("-")) throw new UsageError(`fleetplane get needs one of ${RESOURCES.join(", ")}, got "${first}" (see --help)`);
  const { values, help } = parseOptions(OPTIONS, expandShortFlags(resource ? rest : argv, { "-n": "namespace", "-o": "output" }));
  if (help) {
    out.write(formatHelp(`fleetplane get ${RESOURCES.join("|")} [-n namespace] [-o table|json|yaml] [--server URL] [--api-key KEY]`, SUMMARY, OPTIONS));
    return 0;
  }
  if (!resource) throw new UsageError(`fleetplane get needs one of ${RESOURCES.join(", ")} (see --help)`);
  const format = String(values.output);
  if (format !== "table" && format !== "json" && format !== "yaml") throw new UsageError(`--output must be table, json or yaml, got "${format}"`);
  out.write(await LISTERS[resource](adminClient(values), String(values.namespace), format));
  return 0;
}

type Lister = (client: FleetplaneClient, namespace: string, format: OutputFormat) => Promise<string>;

/** Every page of a paged list. */
async function allPages<T>(page: (token: string) => Promise<{ items: T[]; next: string }>): Promise<T[]> {
  const all: T[] = [];
  for (let token = ""; ; ) {
    const { items, next } = await page(token);
    all.push(...items);
    if (!next) return all;
    token = next;
  }
}

const time = (t: Parameters<typeof timestampDate>[0] | undefined) => (t ? timestampDate(t).toISOString().replace(/\.\d+Z$/, "Z") : "-");

const LISTERS: Record<Resource, Lister> = {
  async agents(client, namespace, format) {
    const agents = await allPages(async (pageToken) => {
      const r = await client.agents.listAgents({ namespace, pageToken, pageSize: 1000 });
      return { items: r.agents, next: r.nextPageToken };
    });
    if (format !== "table") return structured(AgentSchema, agents, format);
    return table(
      ["UID", "NAMESPACE", "GROUP", "CONFIG VERSION", "WHY", "CONNECTED", "HEALTHY"],
      agents.map((a) => [instanceUidToHex(a.metadata!.instanceUid), a.metadata!.namespace || "default", a.spec?.assignment?.group || "-", configVersion(a), why(a), yesNo(a.status?.connected), healthy(a)]),
    );
  },
  async groups(client, namespace, format) {
    const groups = await allPages(async (pageToken) => {
      const r = await client.groups.listGroups({ namespace, pageToken });
      return { items: r.groups, next: r.nextPageToken };
    });
    if (format !== "table") return structured(GroupWithStatusSchema, groups, format);
    return table(
      ["NAME", "PRIORITY", "CONFIGURATION", "VERSION", "MATCHED", "ASSIGNED", "CONNECTED", "APPLIED", "APPLYING", "FAILED", "UNHEALTHY", "TIED WITH"],
      groups.map(({ group: g, status: s }) => [
        g!.name,
        String(g!.priority),
        g!.configuration,
        String(g!.configurationVersion),
        ...[s?.matched, s?.assigned, s?.connected, s?.applied, s?.applying, s?.failed, s?.unhealthy].map((n) => String(n ?? 0n)),
        s?.tiedWith.join(",") || "-",
      ]),
    );
  },
  async configurations(client, namespace, format) {
    const configurations = await allPages(async (pageToken) => {
      const r = await client.configurations.listConfigurations({ namespace, pageToken });
      return { items: r.configurations, next: r.nextPageToken };
    });
    if (format !== "table") return structured(ConfigurationSchema, configurations, format);
    return table(
      ["NAME", "LATEST VERSION", "UPDATED", "DESCRIPTION"],
      configurations.map((c) => [c.name, String(c.latestVersion), time(c.updatedAt), c.description || "-"]),
    );
  },
  async namespaces(client, _namespace, format) {
    const namespaces = await allPages(async (pageToken) => {
      const r = await client.namespaces.listNamespaces({ pageToken });
      return { items: r.namespaces, next: r.nextPageToken };
    });
    if (format !== "table") return structured(NamespaceSchema, namespaces, format);
    return table(["NAME", "CREATED", "DESCRIPTION"], namespaces.map((n) => [n.name, time(n.createdAt), n.description || "-"]));
  },
};

const yesNo = (b: boolean | undefined) => (b ? "yes" : "no");
const healthy = (a: Agent) => (a.status?.health ? yesNo(a.status.health.healthy) : "unknown");

/** The configuration version the agent is meant to run: its group's, or "own" for its own config. */
function configVersion(a: Agent): string {
  const assignment = a.spec?.assignment;
  if (assignment?.source === ConfigSource.AGENT || (assignment?.source !== ConfigSource.GROUP && a.spec?.remoteConfig?.data)) return "own";
  return assignment?.source === ConfigSource.GROUP ? `${assignment.configuration} v${assignment.version}` : "-";
}

/** Why the agent runs what it runs: per-agent, group X (and its ties), or none. */
function why(a: Agent): string {
  const assignment = a.spec?.assignment;
  if (configVersion(a) === "own") return "per-agent";
  if (assignment?.source !== ConfigSource.GROUP) return "none";
  return `group ${assignment.group}${assignment.tiedWith.length > 0 ? ` (tied with ${assignment.tiedWith.join(", ")})` : ""}`;
}
