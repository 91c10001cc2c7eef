import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { DEFAULT_NAMESPACE, permits, type RoleBinding } from "./role-bindings.js";
import type { Permission } from "./method-permissions.js";

/** Who made an admin call, as the interceptor established it. */
export interface Identity {
  /** "key:<name>" or "oidc:<subject>": what the audit trail records. */
  name: string;
  /** Its roles: from the store, and for OIDC also from the token's roles claim. */
  bindings: RoleBinding[];
}

/** Where the admin interceptor leaves the caller for the handlers. */
export const IDENTITY = createContextKey<Identity | undefined>(undefined, { description: "the authenticated caller" });

/**
 * The name the audit trail records for the caller of this call. Every admin
 * call passes the interceptor, so an unset identity only happens when a
 * handler is called without it (unit tests, or `--admin-auth none` on
 * loopback): "anonymous" then, never a name from the request body.
 */
export function callerOf(ctx: Pick<HandlerContext, "values">): string {
  return ctx.values.get(IDENTITY)?.name ?? "anonymous";
}

/**
 * Whether the caller holds `permission` in namespace "default": for handlers
 * whose answer depends on it (configuration bodies need "read-secrets"),
 * never to let a call in — that is the interceptor's. No identity: no.
 */
export function callerMay(ctx: Pick<HandlerContext, "values">, permission: Permission): boolean {
  const identity = ctx.values.get(IDENTITY);
  return identity !== undefined && permits(identity.bindings, permission, DEFAULT_NAMESPACE);
}
