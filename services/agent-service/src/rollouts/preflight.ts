import { create } from "@bufbuild/protobuf";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { PreflightAgentSchema, PreflightResultSchema, type PreflightResult } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { createHash } from "node:crypto";
import { parse } from "yaml";

/** The component kinds of a collector configuration, as its top-level sections and AvailableComponents name them. */
export const COMPONENT_KINDS = ["receivers", "processors", "exporters", "extensions", "connectors"] as const;

/** What a configuration version names: its components ("kind/type"), or why none were looked for. */
export type ConfigComponents = { checked: true; components: string[] } | { checked: false; reason: string } | { checked: true; yamlError: string; components: [] };

/** A file read as a collector configuration: YAML by content type, by name, or the single unnamed file without a type. */
function isYaml(name: string, contentType: string): boolean {
  if (contentType) return /yaml|yml/i.test(contentType);
  return name === "" || /\.ya?ml$/i.test(name);
}

const typeOf = (id: string) => id.split("/")[0]!.trim();
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const idsIn = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

/**
 * The collector components a configuration version names: the keys of its
 * receivers, processors, exporters, extensions and connectors sections (the
 * type before "/"), and the ids service.pipelines and service.extensions
 * refer to (a pipeline's receiver or exporter defined as a connector is a
 * connector). Non-YAML versions are not checked, and say so.
 */
export function componentsOfConfig(files: Record<string, { body: Uint8Array; contentType: string }>): ConfigComponents {
  const yamlFiles = Object.entries(files).filter(([name, f]) => isYaml(name, f.contentType));
  if (yamlFiles.length === 0) return { checked: false, reason: "the version has no YAML file: the component check does not apply" };
  const found = new Set<string>();
  for (const [name, file] of yamlFiles) {
    let doc: unknown;
    try {
      doc = parse(new TextDecoder().decode(file.body));
    } catch (err) {
      return { checked: true, yamlError: `file "${name}" is not valid YAML: ${(err as Error).message.split("\n")[0]}`, components: [] };
    }
    // A document that is not a mapping names no components (it parses: that is all asked of it).
    if (!isRecord(doc)) continue;
    const connectors = new Set(isRecord(doc.connectors) ? Object.keys(doc.connectors) : []);
    for (const kind of COMPONENT_KINDS) {
      const section = doc[kind];
      if (isRecord(section)) for (const id of Object.keys(section)) found.add(`${kind}/${typeOf(id)}`);
    }
    const service = isRecord(doc.service) ? doc.service : {};
    for (const id of idsIn(service.extensions)) found.add(`extensions/${typeOf(id)}`);
    if (isRecord(service.pipelines)) {
      for (const pipeline of Object.values(service.pipelines)) {
        if (!isRecord(pipeline)) continue;
        for (const kind of ["receivers", "processors", "exporters"] as const) {
          for (const id of idsIn(pipeline[kind])) found.add(`${kind !== "processors" && connectors.has(id) ? "connectors" : kind}/${typeOf(id)}`);
        }
      }
    }
  }
  return { checked: true, components: [...found].sort() };
}

/**
 * The components an agent reported it can run ("kind/type"), or undefined
 * when it never reported them (AvailableComponents, with its components map;
 * a hash alone says nothing).
 */
export function availableComponents(agent: Agent): Set<string> | undefined {
  const reported = agent.status?.availableComponents?.components;
  if (!reported || Object.keys(reported).length === 0) return undefined;
  const out = new Set<string>();
  for (const [kind, details] of Object.entries(reported)) for (const type of Object.keys(details.subComponentMap)) out.add(`${kind}/${type}`);
  return out;
}

/** componentsKeyOf: the agent never reported its components (a preflight lists it as unknown). */
export const NO_COMPONENTS = "";

/**
 * The key a store copies beside each agent so that a preflight reads
 * components once per distinct set, not once per agent: a digest of the
 * components the agent reported (kinds and types, in the order reported,
 * each length-prefixed), or NO_COMPONENTS when it never reported them.
 * Ours, not the agent's AvailableComponents.hash: that hash names one
 * agent's components to the server, and nothing makes two agents that
 * report the same hash report the same components (a preflight that
 * trusted it would judge an agent by another's map). The same components
 * reported in another order get another key: one more agent read, never a
 * wrong verdict. Computed at every save of an agent that reported
 * components (~11 µs for 100 of them, docs/performance.md §34); nothing
 * for one that did not.
 */
export function componentsKeyOf(agent: Agent): string {
  const reported = agent.status?.availableComponents?.components;
  if (!reported) return NO_COMPONENTS;
  let text = "";
  let kinds = 0;
  for (const kind in reported) {
    kinds++;
    text += `${kind.length}:${kind}`;
    for (const type in reported[kind]!.subComponentMap) text += `${type.length}:${type}`;
  }
  // No kind at all reads as never reported (availableComponents); kinds without types are an empty set, a key of their own.
  return kinds === 0 ? NO_COMPONENTS : createHash("sha256").update(text).digest("hex").slice(0, 32);
}

/** An agent as a preflight judges it: its uid and the components it can run (undefined: never reported). */
export interface PreflightAgent {
  uid: string;
  available: Set<string> | undefined;
}

/**
 * Preflight: every targeted agent against the components a version names.
 * Agents that never reported their components are listed as unknown, a
 * warning only: many agents (plain OpAMP clients, older supervisors) never
 * report them, and the health gate still judges them.
 */
export function preflight(components: ConfigComponents, agents: readonly PreflightAgent[]): PreflightResult {
  const uids = agents.map((a) => a.uid);
  if (!components.checked) return create(PreflightResultSchema, { componentCheckSkipped: true, reason: components.reason, passed: uids });
  if ("yamlError" in components) return create(PreflightResultSchema, { yamlError: components.yamlError, reason: components.yamlError });
  const result = create(PreflightResultSchema, { components: components.components });
  for (const { uid, available } of agents) {
    if (!available) {
      result.unknown.push(uid);
      continue;
    }
    const missing = components.components.filter((c) => !available.has(c));
    if (missing.length > 0) result.missing.push(create(PreflightAgentSchema, { instanceUid: uid, missingComponents: missing }));
    else result.passed.push(uid);
  }
  if (result.missing.length > 0) {
    const first = result.missing[0]!;
    result.reason = `${result.missing.length} agent(s) lack components the version names, e.g. ${first.instanceUid} lacks ${first.missingComponents.join(", ")}`;
  }
  return result;
}
