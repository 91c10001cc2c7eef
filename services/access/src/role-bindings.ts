import { grants, isRole, PERMISSIONS, type Role } from "./roles.js";
import type { Permission } from "./method-permissions.js";

/**
 * An identity holds a role in a namespace. Every resource is in namespace
 * "default" until namespaces exist (issue 11); a binding to "*" covers all.
 */
export interface RoleBinding {
  /** "key:<name>" or "oidc:<subject>". */
  identity: string;
  role: Role;
  namespace: string;
}

export const DEFAULT_NAMESPACE = "default";
export const ALL_NAMESPACES = "*";

export class InvalidRoleBindingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidRoleBindingError";
  }
}

const NAMESPACE = /^(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/;

/** A binding checked field by field (the API takes them as text). */
export function roleBinding(identity: string, role: string, namespace = DEFAULT_NAMESPACE): RoleBinding {
  if (!/^(key|oidc):.+$/.test(identity)) throw new InvalidRoleBindingError(`identity "${identity}" must be "key:<name>" or "oidc:<subject>"`);
  if (!isRole(role)) throw new InvalidRoleBindingError(`role "${role}" is not one of viewer, operator, admin`);
  const ns = namespace || DEFAULT_NAMESPACE;
  if (!NAMESPACE.test(ns)) throw new InvalidRoleBindingError(`namespace "${ns}" must be "*" or a DNS label`);
  return { identity, role, namespace: ns };
}

/** Whether some binding grants `permission` in `namespace`. */
export function permits(bindings: readonly RoleBinding[], permission: Permission, namespace = DEFAULT_NAMESPACE): boolean {
  return bindings.some((b) => (b.namespace === namespace || b.namespace === ALL_NAMESPACES) && grants(b.role, permission));
}

/** The permissions held in `namespace` (the console shows only what they allow). */
export function permissionsIn(bindings: readonly RoleBinding[], namespace = DEFAULT_NAMESPACE): Permission[] {
  return PERMISSIONS.filter((p) => permits(bindings, p, namespace));
}
