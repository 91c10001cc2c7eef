import type { HandlerContext } from "@connectrpc/connect";
import { callerOf } from "@fleetplane/access";

/**
 * Who an admin call is recorded as having come from (requested_by,
 * approved_by, denied_by in the audit): the identity the admin interceptor
 * established — "key:<name>" or "oidc:<subject>" — never text from the
 * request body, whose requested_by fields are deprecated and ignored.
 */
export function requesterOf(ctx: Pick<HandlerContext, "values">): string {
  return callerOf(ctx);
}
