import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { AgentRepository, StoredRevision } from "./agent-repository.js";

/**
 * Reading many agents without holding the store for long: the rollouts'
 * stage looks and the group status book read through these pages, so a
 * page's size and the order of its names are one rule for both.
 */
export type AgentPageReader = Pick<AgentRepository, "list" | "listRevisions">;

/** Agents read per store call (each decoded). */
export const AGENT_PAGE = 500;
/** Revisions read per store call (a uid and a number each, nothing decoded). */
export const REVISION_PAGE = 2_000;

/** The named agents (hex uids) that are stored, in uid order, read a page of names at a time (each call carries only its page's names). */
export async function agentsNamed(reader: Pick<AgentPageReader, "list">, namespace: string, uids: readonly string[]): Promise<Agent[]> {
  const out: Agent[] = [];
  for (const names of pagesOf(uids, AGENT_PAGE)) out.push(...(await reader.list({ namespace, instanceUids: names, limit: names.length })));
  return out;
}

/** The stored revision of each named agent (hex uids) that is stored; none is read or decoded. */
export async function revisionsNamed(reader: Pick<AgentPageReader, "listRevisions">, namespace: string, uids: readonly string[]): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const names of pagesOf(uids, REVISION_PAGE)) for (const r of await reader.listRevisions({ namespace, instanceUids: names, limit: names.length })) out.set(r.uid, r.revision);
  return out;
}

/** The stored revision of every agent of the namespace, a page at a time, in uid order; none is decoded. */
export async function* namespaceRevisions(reader: Pick<AgentPageReader, "listRevisions">, namespace: string): AsyncGenerator<StoredRevision[]> {
  for (let after: string | undefined; ; ) {
    const page = await reader.listRevisions({ namespace, limit: REVISION_PAGE, ...(after ? { after } : {}) });
    yield page;
    if (page.length < REVISION_PAGE) return;
    after = page[page.length - 1]!.uid;
  }
}

/** The distinct uids, sorted, in pages of `size`. */
function pagesOf(uids: readonly string[], size: number): string[][] {
  const sorted = [...new Set(uids)].sort();
  const pages: string[][] = [];
  for (let i = 0; i < sorted.length; i += size) pages.push(sorted.slice(i, i + size));
  return pages;
}
