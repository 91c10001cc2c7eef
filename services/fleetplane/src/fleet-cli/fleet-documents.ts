import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { readFile, readdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import { UsageError } from "@fleetplane/platform";
import { InvalidRequestError, resourceNameProblem, validateSelector } from "@fleetplane/agent-service";
import { ConfigurationFileSchema, GroupSchema, LabelSelectorSchema, type ConfigurationFile, type Group } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { PackageReferenceSchema } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { ConnectionSettingsOffersSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { DocumentError, type DocumentSource } from "./document-error.js";

/**
 * The documents `fleetplane apply` reads, one YAML document each (files may
 * hold several, separated by "---"):
 *
 *   kind: Namespace       name, description
 *   kind: Configuration   name, namespace, description, message,
 *                         files: { <file name>: { content | path, contentType } }
 *   kind: Group           name, namespace, description, priority, selector,
 *                         configuration, version (a number or "latest"),
 *                         connectionSettings, packages: [{ name, version }]
 *
 * Field names are the API's (camelCase, as in its JSON form); an unknown
 * field is an error, so a typo cannot silently drop a setting.
 */
export type FleetDocument = NamespaceDocument | ConfigurationDocument | GroupDocument;

export interface NamespaceDocument {
  kind: "Namespace";
  source: DocumentSource;
  name: string;
  description: string;
}

export interface ConfigurationDocument {
  kind: "Configuration";
  source: DocumentSource;
  namespace: string;
  name: string;
  description: string;
  /** The message of the version this apply creates, if it creates one. */
  message: string;
  files: Record<string, ConfigurationFile>;
}

export interface GroupDocument {
  kind: "Group";
  source: DocumentSource;
  /** The group as the API takes it, configuration_version still unset. */
  group: Group;
  /** "latest": the configuration's newest version once this apply's configurations are applied. */
  version: number | "latest";
}

const FIELDS: Record<FleetDocument["kind"], readonly string[]> = {
  Namespace: ["kind", "name", "description"],
  Configuration: ["kind", "name", "namespace", "description", "message", "files"],
  Group: ["kind", "name", "namespace", "description", "priority", "selector", "configuration", "version", "connectionSettings", "packages"],
};

/** The YAML files `path` names: the file itself, or every *.yaml/*.yml in the directory, in name order. */
export async function manifestFiles(path: string): Promise<string[]> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`-f ${path}: ${err.code === "ENOENT" ? "no such file or directory" : err.message}`);
  });
  if (!info.isDirectory()) return [path];
  const names = (await readdir(path)).filter((n) => /\.ya?ml$/.test(n)).sort();
  return names.map((n) => join(path, n));
}

/**
 * Reads and checks every document of the files. Returns the documents and
 * every problem found (all of them, not only the first), each naming its
 * file, document and field.
 */
export async function readFleetDocuments(files: readonly string[], defaultNamespace: string): Promise<{ documents: FleetDocument[]; errors: DocumentError[] }> {
  const documents: FleetDocument[] = [];
  const errors: DocumentError[] = [];
  for (const file of files) {
    const text = await readFile(file, "utf8");
    const parsed = parseAllDocuments(text);
    const all = Array.isArray(parsed) ? parsed : [parsed];
    for (const [i, doc] of all.entries()) {
      const source = { file, index: i + 1 };
      if (doc.errors.length > 0) {
        errors.push(new DocumentError(source, "", `not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}`));
        continue;
      }
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) continue; // an empty document (a trailing "---")
      try {
        documents.push(await toDocument(value, source, defaultNamespace));
      } catch (err) {
        if (!(err instanceof DocumentError)) throw err;
        errors.push(err);
      }
    }
  }
  return { documents, errors };
}

async function toDocument(value: unknown, source: DocumentSource, defaultNamespace: string): Promise<FleetDocument> {
  const fail = (field: string, problem: string) => new DocumentError(source, field, problem);
  if (!isObject(value)) throw fail("", "a document must be a mapping with a kind");
  const kind = value.kind;
  if (kind !== "Namespace" && kind !== "Configuration" && kind !== "Group") {
    throw fail("kind", `${kind === undefined ? "is missing" : `"${String(kind)}" is not a kind`}; kinds are Namespace, Configuration and Group`);
  }
  for (const key of Object.keys(value)) if (!FIELDS[kind].includes(key)) throw fail(key, `is not a field of ${kind} (fields: ${FIELDS[kind].join(", ")})`);
  const text = (field: string, required = false): string => {
    const v = value[field];
    if (v === undefined || v === null) {
      if (required) throw fail(field, "is missing");
      return "";
    }
    if (typeof v !== "string") throw fail(field, "must be a string");
    return v;
  };
  const name = (field: string, fallback?: string): string => {
    const v = text(field, fallback === undefined) || fallback!;
    const problem = resourceNameProblem(v);
    if (problem) throw fail(field, problem);
    return v;
  };
  if (kind === "Namespace") return { kind, source, name: name("name"), description: text("description") };
  const namespace = name("namespace", defaultNamespace);
  if (kind === "Configuration") {
    return { kind, source, namespace, name: name("name"), description: text("description"), message: text("message"), files: await configurationFiles(value.files, source) };
  }
  const group = create(GroupSchema, { namespace, name: name("name"), description: text("description"), configuration: name("configuration") });
  const priority = value.priority ?? 0;
  if (!Number.isInteger(priority) || Math.abs(priority as number) > 2 ** 31 - 1) throw fail("priority", "must be a whole number");
  group.priority = priority as number;
  group.selector = fromApiJson(LabelSelectorSchema, value.selector ?? {}, source, "selector");
  try {
    validateSelector(group.selector, "selector");
  } catch (err) {
    if (!(err instanceof InvalidRequestError)) throw err;
    // The rule's message starts with the field it names (snake_case, as the API's).
    const [field, ...rest] = err.message.split(" ");
    throw fail(field!, rest.join(" "));
  }
  if (value.connectionSettings !== undefined) group.connectionSettings = fromApiJson(ConnectionSettingsOffersSchema, value.connectionSettings, source, "connectionSettings");
  group.packages = packageReferences(value.packages, source);
  const version = value.version ?? "latest";
  if (version !== "latest" && !(Number.isInteger(version) && (version as number) >= 1)) throw fail("version", `must be a version number (from 1) or "latest", got ${JSON.stringify(version)}`);
  return { kind, source, group, version: version as number | "latest" };
}

/** A configuration's files: each with its content inline or read from a path (relative to the document's file). */
async function configurationFiles(value: unknown, source: DocumentSource): Promise<Record<string, ConfigurationFile>> {
  if (!isObject(value) || Object.keys(value).length === 0) throw new DocumentError(source, "files", "needs at least one file: { <name>: { content: ..., contentType: text/yaml } }");
  const files: Record<string, ConfigurationFile> = {};
  for (const [fileName, spec] of Object.entries(value)) {
    const field = `files.${fileName}`;
    if (!isObject(spec)) throw new DocumentError(source, field, "must be a mapping with content or path");
    for (const key of Object.keys(spec)) if (!["content", "path", "contentType"].includes(key)) throw new DocumentError(source, `${field}.${key}`, "is not a field of a file (content, path, contentType)");
    if ((spec.content === undefined) === (spec.path === undefined)) throw new DocumentError(source, field, "needs exactly one of content and path");
    let body: Uint8Array;
    if (spec.content !== undefined) {
      if (typeof spec.content !== "string") throw new DocumentError(source, `${field}.content`, "must be a string");
      body = new TextEncoder().encode(spec.content);
    } else {
      const path = resolve(dirname(source.file), String(spec.path));
      try {
        body = new Uint8Array(await readFile(path));
      } catch (err) {
        throw new DocumentError(source, `${field}.path`, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    const contentType = spec.contentType === undefined ? "text/yaml" : spec.contentType;
    if (typeof contentType !== "string") throw new DocumentError(source, `${field}.contentType`, "must be a string");
    files[fileName] = create(ConfigurationFileSchema, { body, contentType });
  }
  return files;
}

function packageReferences(value: unknown, source: DocumentSource): Group["packages"] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new DocumentError(source, "packages", "must be a list of { name, version }");
  return value.map((p, i) => {
    if (!isObject(p) || typeof p.name !== "string" || typeof p.version !== "string" || Object.keys(p).length !== 2) {
      throw new DocumentError(source, `packages[${i}]`, "must be { name: <registered package>, version: <its version> }");
    }
    return create(PackageReferenceSchema, { name: p.name, version: p.version });
  });
}

/** A message from its API JSON form; a field the message does not have is an error naming it. */
function fromApiJson<T extends Parameters<typeof fromJson>[0]>(schema: T, value: unknown, source: DocumentSource, field: string) {
  try {
    return fromJson(schema, value as JsonValue);
  } catch (err) {
    throw new DocumentError(source, field, (err as Error).message);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
