import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { NamespaceSchema, type Namespace } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import type { AgentRepository } from "../agents/agent-repository.js";
import type { CommandAuditPort } from "../agents/command-audit-port.js";
import { newCommandId } from "../agents/command-id.js";
import type { ConfigurationRepository } from "./configuration-repository.js";
import { FleetResourceExistsError, FleetResourceInUseError, FleetResourceNotFoundError } from "./fleet-errors.js";
import type { GroupRepository } from "./group-repository.js";
import type { NamespaceRepository } from "./namespace-repository.js";
import { DEFAULT_NAMESPACE, requireResourceName } from "./resource-names.js";

export interface NamespacesOptions {
  namespaces: NamespaceRepository;
  agents: AgentRepository;
  groups: GroupRepository;
  configurations: ConfigurationRepository;
  audit: CommandAuditPort;
  now?: () => number;
}

/**
 * Namespaces: created and deleted by admins; "default" always exists and is
 * never stored. A namespace is deleted only when it holds nothing, so no
 * agent, group or configuration is ever left in a namespace that is gone.
 */
export class Namespaces {
  private readonly now: () => number;

  constructor(private readonly deps: NamespacesOptions) {
    this.now = deps.now ?? Date.now;
  }

  async create(name: string, description: string, requestedBy: string): Promise<Namespace> {
    requireResourceName("name", name);
    const namespace = create(NamespaceSchema, { name, description, createdAt: timestampFromMs(this.now()), createdBy: requestedBy });
    if (name === DEFAULT_NAMESPACE || !(await this.deps.namespaces.create(namespace))) throw new FleetResourceExistsError(`namespace "${name}" already exists`);
    await this.audit(name, "namespace_created", requestedBy, description);
    return namespace;
  }

  async get(name: string): Promise<Namespace> {
    requireResourceName("name", name);
    if (name === DEFAULT_NAMESPACE) return create(NamespaceSchema, { name, description: "the namespace of everything that names none" });
    const found = await this.deps.namespaces.get(name);
    if (!found) throw new FleetResourceNotFoundError(`namespace "${name}" does not exist`);
    return found;
  }

  /** Throws FleetResourceNotFoundError unless the namespace exists; `field` names the request field. */
  async require(name: string, field = "namespace"): Promise<void> {
    if (name === DEFAULT_NAMESPACE) return;
    if (!(await this.deps.namespaces.get(name))) throw new FleetResourceNotFoundError(`${field}: namespace "${name}" does not exist; create it first`);
  }

  /** In name order, "default" among them. */
  async list(query: { limit: number; after?: string }): Promise<Namespace[]> {
    const stored = await this.deps.namespaces.list(query);
    if (query.after !== undefined && query.after >= DEFAULT_NAMESPACE) return stored;
    const all = [...stored, await this.get(DEFAULT_NAMESPACE)].sort((a, b) => (a.name < b.name ? -1 : 1));
    // "default" may push the last stored one past the page; it comes again on the next.
    return all.slice(0, query.limit);
  }

  async delete(name: string, requestedBy: string): Promise<void> {
    requireResourceName("name", name);
    if (name === DEFAULT_NAMESPACE) throw new FleetResourceInUseError(`namespace "${DEFAULT_NAMESPACE}" cannot be deleted`);
    await this.get(name);
    const holds: string[] = [];
    if ((await this.deps.agents.list({ namespace: name, limit: 1 })).length > 0) holds.push("agents");
    if ((await this.deps.groups.list(name, { limit: 1 })).length > 0) holds.push("groups");
    if (await this.deps.configurations.any(name)) holds.push("configurations");
    if (holds.length > 0) throw new FleetResourceInUseError(`namespace "${name}" still holds ${holds.join(", ")}; delete them first`);
    if (!(await this.deps.namespaces.delete(name))) throw new FleetResourceNotFoundError(`namespace "${name}" does not exist`);
    await this.audit(name, "namespace_deleted", requestedBy, "");
  }

  private audit(name: string, kind: string, requestedBy: string, detail: string): Promise<void> {
    return this.deps.audit.recordChange({ id: newCommandId(this.now()), namespace: name, resource: `namespace/${name}`, kind, requestedBy, detail });
  }
}
