import type { Permission } from "./method-permissions.js";

/** Roles an identity is bound to, per namespace. Each includes the ones before it. */
export type Role = "viewer" | "operator" | "admin";

export const ROLES: readonly Role[] = ["viewer", "operator", "admin"];

const GRANTS: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  viewer: new Set(["read"]),
  operator: new Set(["read", "read-secrets", "operate"]),
  admin: new Set(["read", "read-secrets", "operate", "administer"]),
};

/** Every permission, in the order the roles gain them. */
export const PERMISSIONS: readonly Permission[] = ["read", "read-secrets", "operate", "administer"];

/** Whether a role grants a permission. */
export function grants(role: Role, permission: Permission): boolean {
  return GRANTS[role].has(permission);
}

export function isRole(text: string): text is Role {
  return (ROLES as readonly string[]).includes(text);
}
