import type { HandlerContext } from "@connectrpc/connect";

/**
 * Who an admin call is recorded as having come from: the requested_by (or
 * approved_by, denied_by) the caller gave, "anonymous" when it gave none.
 * The API has no authentication yet; this is what the audit trail shows.
 * Requests without a requested_by field (the fleet resources) pass only the
 * handler context: once calls are authenticated, the identity comes from it.
 */
export function requesterOf(text: string, _context?: HandlerContext): string {
  return text || "anonymous";
}
