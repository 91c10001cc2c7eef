import { clone, equals } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { FleetplaneClient } from "@fleetplane/client";
import { GroupSchema, type ConfigurationFile, type Group } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { DocumentError } from "./document-error.js";
import type { ConfigurationDocument, FleetDocument, GroupDocument, NamespaceDocument } from "./fleet-documents.js";

/** What applying one document does. */
export interface PlanStep {
  document: FleetDocument;
  /** kind/namespace/name, as printed. */
  resource: string;
  action: "created" | "changed" | "unchanged";
  /** What changes, in a few words (e.g. "version 3 → 4"). */
  detail: string;
  /** Agents whose configuration or group offers the change moves (groups only). */
  agentsMoved?: number;
}

export interface Plan {
  steps: PlanStep[];
  errors: DocumentError[];
}

/** Kinds in the order they are planned and applied: what a later kind names exists by then. */
const ORDER: readonly FleetDocument["kind"][] = ["Namespace", "Configuration", "Group"];

/**
 * Works out what applying the documents would do, asking the server and
 * changing nothing: which resources are new, changed or unchanged, and (via
 * GroupService.PreviewGroup, which runs the server's own checks) how many
 * agents each group change moves. Problems the server finds are reported
 * against the document, like the file's own.
 */
export async function planApply(client: FleetplaneClient, documents: readonly FleetDocument[]): Promise<Plan> {
  const planner = new Planner(client);
  const steps: PlanStep[] = [];
  const errors: DocumentError[] = [];
  const seen = new Map<string, FleetDocument>();
  for (const kind of ORDER) {
    for (const document of documents.filter((d) => d.kind === kind)) {
      const resource = resourceOf(document);
      const earlier = seen.get(resource);
      if (earlier) {
        errors.push(new DocumentError(document.source, "name", `${resource} is also defined in ${earlier.source.file}, document ${earlier.source.index}`));
        continue;
      }
      seen.set(resource, document);
      try {
        steps.push({ document, resource, ...(await planner.plan(document)) });
      } catch (err) {
        if (err instanceof DocumentError) errors.push(err);
        else if (err instanceof ConnectError && err.code !== Code.Unavailable && err.code !== Code.Unauthenticated && err.code !== Code.PermissionDenied) {
          errors.push(new DocumentError(document.source, fieldOf(err.rawMessage), err.rawMessage));
        } else throw err;
      }
    }
  }
  return { steps, errors };
}

/** Applies a plan without errors, in its order; returns each step with the agents it actually moved. */
export async function applyPlan(client: FleetplaneClient, plan: Plan): Promise<PlanStep[]> {
  const latest = new Map<string, number>();
  const done: PlanStep[] = [];
  for (const step of plan.steps) {
    if (step.action === "unchanged") {
      done.push(step);
      continue;
    }
    const d = step.document;
    if (d.kind === "Namespace") {
      await client.namespaces.createNamespace({ name: d.name, description: d.description });
    } else if (d.kind === "Configuration") {
      const version =
        step.action === "created"
          ? (await client.configurations.createConfiguration({ namespace: d.namespace, name: d.name, description: d.description, files: d.files, message: d.message || "fleetplane apply" })).version
          : (await client.configurations.createConfigurationVersion({ namespace: d.namespace, name: d.name, files: d.files, message: d.message || "fleetplane apply" })).version;
      latest.set(`${d.namespace}/${d.name}`, version!.version);
    } else {
      const group = clone(GroupSchema, d.group);
      group.configurationVersion = d.version === "latest" ? (latest.get(`${group.namespace}/${group.configuration}`) ?? (await latestVersion(client, group))) : d.version;
      const moved = step.action === "created" ? await client.groups.createGroup({ group }) : await client.groups.updateGroup({ group });
      done.push({ ...step, agentsMoved: Number(moved.agentsMoved) });
      continue;
    }
    done.push(step);
  }
  return done;
}

export function resourceOf(d: FleetDocument): string {
  if (d.kind === "Namespace") return `namespace/${d.name}`;
  if (d.kind === "Configuration") return `configuration/${d.namespace}/${d.name}`;
  return `group/${d.group.namespace}/${d.group.name}`;
}

/** The field a server error names: its first word when it looks like one ("group.selector.match_expressions[0].operator ..."). */
function fieldOf(message: string): string {
  const first = message.split(" ")[0] ?? "";
  return /^group\.[a-z_.[\]0-9]+$/.test(first) ? first.slice("group.".length) : "";
}

async function latestVersion(client: FleetplaneClient, group: Group): Promise<number> {
  return (await client.configurations.getConfiguration({ namespace: group.namespace, name: group.configuration })).configuration!.latestVersion;
}

const notFound = (err: unknown) => err instanceof ConnectError && err.code === Code.NotFound;

/** Plans documents in ORDER, remembering what earlier documents will create. */
class Planner {
  /** Namespaces this apply creates (nothing of theirs is on the server yet). */
  private readonly newNamespaces = new Set<string>();
  /** For each configuration this apply touches: its newest version once applied, and whether this apply creates it. */
  private readonly configurations = new Map<string, { latest: number; created: boolean }>();

  /** Groups planned so far, by namespace: each preview counts agents as they stand after them. */
  private readonly plannedGroups = new Map<string, { group: Group; nextVersion: boolean }[]>();

  constructor(private readonly client: FleetplaneClient) {}

  plan(d: FleetDocument): Promise<Omit<PlanStep, "document" | "resource">> {
    if (d.kind === "Namespace") return this.namespace(d);
    if (d.kind === "Configuration") return this.configuration(d);
    return this.group(d);
  }

  private async namespace(d: NamespaceDocument) {
    try {
      await this.client.namespaces.getNamespace({ name: d.name });
      return { action: "unchanged" as const, detail: "" };
    } catch (err) {
      if (!notFound(err)) throw err;
      this.newNamespaces.add(d.name);
      return { action: "created" as const, detail: "" };
    }
  }

  private async configuration(d: ConfigurationDocument) {
    const key = `${d.namespace}/${d.name}`;
    const current = this.newNamespaces.has(d.namespace) ? undefined : await this.latestFiles(d);
    if (!current) {
      this.configurations.set(key, { latest: 1, created: true });
      return { action: "created" as const, detail: `version 1 (${Object.keys(d.files).length} file(s))` };
    }
    if (sameFiles(current.files, d.files)) {
      this.configurations.set(key, { latest: current.version, created: false });
      return { action: "unchanged" as const, detail: `version ${current.version}` };
    }
    this.configurations.set(key, { latest: current.version + 1, created: true });
    return { action: "changed" as const, detail: `version ${current.version} → ${current.version + 1}` };
  }

  private async latestFiles(d: ConfigurationDocument): Promise<{ version: number; files: Record<string, ConfigurationFile> } | undefined> {
    try {
      const { version } = await this.client.configurations.getConfigurationVersion({ namespace: d.namespace, name: d.name, version: 0 });
      return { version: version!.version, files: version!.files };
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  private async group(d: GroupDocument) {
    const group = clone(GroupSchema, d.group);
    const { latest, nextVersion } = await this.versionOf(d);
    group.configurationVersion = d.version === "latest" ? latest : d.version;
    if (group.configurationVersion > latest) {
      throw new DocumentError(d.source, "version", `configuration "${group.configuration}" will have versions 1 to ${latest}; there is no version ${group.configurationVersion}`);
    }
    // A version this apply creates cannot be previewed by number; the server counts the group's agents instead.
    const creating = nextVersion && group.configurationVersion === latest;
    if (this.newNamespaces.has(group.namespace)) {
      return { action: "created" as const, detail: versionText(group), agentsMoved: 0 };
    }
    const before = this.plannedGroups.get(group.namespace) ?? [];
    const preview = await this.client.groups.previewGroup({ group, nextVersion: creating, before });
    before.push({ group, nextVersion: creating });
    this.plannedGroups.set(group.namespace, before);
    const agentsMoved = Number(preview.agentsMoved);
    if (!preview.exists) return { action: "created" as const, detail: versionText(group), agentsMoved };
    if (!creating && sameGroup(preview.current!, group)) return { action: "unchanged" as const, detail: versionText(group), agentsMoved: 0 };
    return { action: "changed" as const, detail: `${versionText(preview.current!)} → ${versionText(group)}`, agentsMoved };
  }

  /** The configuration's newest version once this apply's configurations are applied, and whether this apply creates it. */
  private async versionOf(d: GroupDocument): Promise<{ latest: number; nextVersion: boolean }> {
    const { namespace, configuration } = d.group;
    const planned = this.configurations.get(`${namespace}/${configuration}`);
    if (planned) return { latest: planned.latest, nextVersion: planned.created };
    try {
      if (this.newNamespaces.has(namespace)) throw new ConnectError("", Code.NotFound);
      return { latest: await latestVersion(this.client, d.group), nextVersion: false };
    } catch (err) {
      if (!notFound(err)) throw err;
      throw new DocumentError(d.source, "configuration", `configuration "${configuration}" does not exist in namespace "${namespace}" (neither on the server nor in these files)`);
    }
  }
}

const versionText = (g: Group) => `${g.configuration} v${g.configurationVersion}, priority ${g.priority}`;

function sameFiles(a: Record<string, ConfigurationFile>, b: Record<string, ConfigurationFile>): boolean {
  const names = Object.keys(a).sort();
  if (names.join("\n") !== Object.keys(b).sort().join("\n")) return false;
  return names.every((n) => a[n]!.contentType === b[n]!.contentType && Buffer.from(a[n]!.body).equals(Buffer.from(b[n]!.body)));
}

/** The same definition (what the server sets — times, who — aside). */
function sameGroup(stored: Group, wanted: Group): boolean {
  const a = clone(GroupSchema, stored);
  const b = clone(GroupSchema, wanted);
  for (const g of [a, b]) {
    delete g.createdAt;
    delete g.updatedAt;
    g.updatedBy = "";
    if (g.connectionSettings) g.connectionSettings.hash = new Uint8Array();
  }
  return equals(GroupSchema, a, b);
}
