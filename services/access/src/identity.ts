import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { RoleBinding } from "./role-bindings.js";

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
