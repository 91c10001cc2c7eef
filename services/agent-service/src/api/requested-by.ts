/**
 * Who an admin call is recorded as having come from: the requested_by (or
 * approved_by, denied_by) the caller gave, "anonymous" when it gave none.
 * The API has no authentication yet; this is what the audit trail shows.
 */
export function requesterOf(text: string): string {
  return text || "anonymous";
}
