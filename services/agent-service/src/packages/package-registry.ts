import { create, equals } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Agent, AgentCommand } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { PackageSchema, type Package } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { PackageAvailableSchema, PackageType, type PackageAvailable } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { InvalidRequestError } from "../agents/agent-errors.js";
import { computePackageHash } from "../agents/offer-hashes.js";
import { PackageConflictError, PackageNotFoundError } from "./package-errors.js";
import type { PackageKey, PackageRepository } from "./package-repository.js";
import { DEFAULT_NAMESPACE } from "../fleet/resource-names.js";

/** What an admin registers; the server adds the hash and the registration time. */
export type PackageDefinition = Pick<Package, "name" | "version" | "type" | "downloadUrl" | "sha256" | "signature">;

/** The admin command the registry offers packages through (AdminCommands: so offers stay one code path, audited). */
export interface PackageOfferPort {
  setPackagesAvailable(uid: string, packages: Record<string, PackageAvailable>, requestedBy: string, namespace?: string): Promise<{ agent: Agent; command: AgentCommand; pushed: boolean }>;
}

const MAX_NAME_LENGTH = 256;

/**
 * The package registry: admins register package versions once, then offer
 * them to agents by name and version. An offer resolves the references to
 * the registered definitions and hands them to AdminCommands, which
 * stores, pushes and audits them exactly like an inline offer — so the
 * hash an agent reports back is the one computed here at registration.
 */
export class PackageRegistry {
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      packages: PackageRepository;
      offers: PackageOfferPort;
      /** Throws unless the namespace exists (a package is registered into one). */
      requireNamespace?: (namespace: string) => Promise<void>;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
  }

  /** Registers a package version in `namespace`; only that namespace's agents and groups are offered it. */
  async register(definition: PackageDefinition, requestedBy: string, namespace: string = DEFAULT_NAMESPACE): Promise<{ pkg: Package; created: boolean }> {
    validate(definition);
    await this.deps.requireNamespace?.(namespace);
    const pkg = create(PackageSchema, {
      ...definition,
      namespace,
      registeredAt: timestampFromMs(this.now()),
      registeredBy: requestedBy,
    });
    pkg.hash = computePackageHash(toPackageAvailable(pkg));
    const { stored, created } = await this.deps.packages.insertIfAbsent(pkg);
    if (!created && !equals(PackageAvailableSchema, toPackageAvailable(stored), toPackageAvailable(pkg))) {
      throw new PackageConflictError(definition);
    }
    return { pkg: stored, created };
  }

  /** A package of `namespace`; another namespace's is not found. */
  async get(namespace: string, key: PackageKey): Promise<Package> {
    const pkg = await this.deps.packages.get(namespace, key);
    if (!pkg) throw new PackageNotFoundError(key);
    return pkg;
  }

  async list(namespace: string, query: { name?: string; limit: number; after?: PackageKey }): Promise<Package[]> {
    return this.deps.packages.list(namespace, query);
  }

  async delete(namespace: string, key: PackageKey): Promise<void> {
    if (!(await this.deps.packages.delete(namespace, key))) throw new PackageNotFoundError(key);
  }

  /**
   * Offers registered packages of `namespace` to an agent of `namespace`,
   * replacing its previous package offer: a package registered in another
   * namespace is not found, nor is an agent of another namespace.
   */
  async offer(uid: string, references: readonly PackageKey[], requestedBy: string, namespace: string = DEFAULT_NAMESPACE): Promise<{ agent: Agent; command: AgentCommand; pushed: boolean }> {
    const packages = await resolvePackageReferences(references, (key) => this.deps.packages.get(namespace, key));
    return this.deps.offers.setPackagesAvailable(uid, packages, requestedBy, namespace);
  }
}

/**
 * Registered packages by reference, as OpAMP offers them (an admin's offer
 * or a group's). Each name at most once; PackageNotFoundError for a
 * reference that is not registered. `field` prefixes the other errors.
 */
export async function resolvePackageReferences(
  references: readonly PackageKey[],
  get: (key: PackageKey) => Promise<Package | undefined>,
  field = "packages",
): Promise<Record<string, PackageAvailable>> {
  const packages: Record<string, PackageAvailable> = {};
  for (const ref of references) {
    if (!ref.name || !ref.version) throw new InvalidRequestError(`${field}: every package reference needs a name and a version`);
    if (packages[ref.name]) throw new InvalidRequestError(`${field}: package "${ref.name}" is referenced twice; an agent is offered one version of each package`);
    const pkg = await get({ name: ref.name, version: ref.version });
    if (!pkg) throw new PackageNotFoundError({ name: ref.name, version: ref.version });
    packages[ref.name] = toPackageAvailable(pkg);
  }
  return packages;
}

/** A registered package as OpAMP offers it: the SHA-256 is the file's content_hash. */
export function toPackageAvailable(pkg: Package): PackageAvailable {
  return create(PackageAvailableSchema, {
    type: pkg.type,
    version: pkg.version,
    file: { downloadUrl: pkg.downloadUrl, contentHash: pkg.sha256, signature: pkg.signature },
    hash: pkg.hash,
  });
}

function validate(d: PackageDefinition): void {
  const what = `package "${d.name}" version "${d.version}"`;
  if (!d.name) throw new InvalidRequestError("a package needs a name");
  if (d.name.length > MAX_NAME_LENGTH) throw new InvalidRequestError(`package names are at most ${MAX_NAME_LENGTH} characters`);
  if (d.name.includes("\u0000") || d.version.includes("\u0000")) throw new InvalidRequestError("package names and versions cannot contain NUL characters");
  if (!d.version) throw new InvalidRequestError(`package "${d.name}" needs a version`);
  if (d.type !== PackageType.PackageType_TopLevel && d.type !== PackageType.PackageType_Addon) {
    throw new InvalidRequestError(`${what}: type must be PackageType_TopLevel or PackageType_Addon, got ${d.type}`);
  }
  let url: URL;
  try {
    url = new URL(d.downloadUrl);
  } catch {
    throw new InvalidRequestError(`${what}: download_url "${d.downloadUrl}" is not a URL`);
  }
  // Agents download with HTTP GET (the spec's DownloadableFile).
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidRequestError(`${what}: download_url must be http or https, got ${url.protocol}`);
  if (d.sha256.length !== 32) throw new InvalidRequestError(`${what}: sha256 must be the 32-byte SHA-256 of the file, got ${d.sha256.length} bytes`);
}
