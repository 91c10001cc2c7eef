/**
 * Page-based listing, one rule for every List RPC: a page holds at most
 * `pageLimit(pageSize)` items; the store is asked for one more than that, and
 * the extra one only tells whether a next page exists. The token of the next
 * page is the key of the last item shown, so a listing stays stable while
 * items are added or removed.
 */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** The page size to use for a requested one (0: the default; capped at the maximum). */
export function pageLimit(pageSize: number): number {
  return Math.min(pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
}

/** How many items to ask the store for: one more than the page shows. */
export function fetchLimit(limit: number): number {
  return limit + 1;
}

/** Cuts what the store returned (up to `fetchLimit(limit)` items) into a page and the next page's token ("" on the last page). */
export function toPage<T>(found: T[], limit: number, tokenOf: (last: T) => string): { page: T[]; nextPageToken: string } {
  const page = found.length > limit ? found.slice(0, limit) : found;
  const last = page[page.length - 1];
  return { page, nextPageToken: found.length > limit && last !== undefined ? tokenOf(last) : "" };
}
