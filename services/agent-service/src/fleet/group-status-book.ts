import { equals } from "@bufbuild/protobuf";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { LabelSelectorSchema, type Group, type GroupStatus, type LabelSelector } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { instanceUidToHex, type Logger } from "@fleetplane/platform";
import type { AgentQuery } from "../agents/agent-repository.js";
import { namespaceOf } from "../agents/agent-namespace.js";
import { contributionOf, GroupStatusCounter, type StatusContribution } from "./group-status.js";

export interface GroupStatusBookOptions {
  /**
   * Reads agents in pages: the agent repository itself (its copies are
   * decoded for the count and dropped; cached copies differ only in
   * liveness, which is not counted).
   */
  agents: { list(query: AgentQuery): Promise<Agent[]> };
  /** The namespace's groups and their revision (the group catalog's snapshot). */
  groups: (namespace: string) => Promise<{ revision: number; groups: readonly Group[] }>;
  /**
   * How old a namespace's counts may grow before a read recounts them from
   * the store. Changes stored by this replica are folded in as they happen;
   * changes stored by another replica are seen only by a recount. Infinity:
   * this replica stores every change (standalone). Default 5 s.
   */
  maxAgeMs?: number;
  logger: Logger;
  now?: () => number;
}

/** Agents read per store call when a namespace is counted. */
const AGENT_PAGE = 500;

/**
 * Whether counts made over `before` hold over `after`: the same groups by
 * name, with the same selectors and priorities. What an agent contributes
 * depends on the groups' names and selectors (contributionOf) and on which
 * group its configuration comes from, which the priorities decide (the
 * agents' moves are then folded in as they are stored, but a recount sees
 * other replicas' sooner); a group's version, offers or rollout marks
 * change none of it.
 */
function sameCounting(before: readonly Group[], after: readonly Group[]): boolean {
  if (before.length !== after.length) return false;
  const byName = new Map(before.map((g) => [g.name, g]));
  return after.every((g) => {
    const was = byName.get(g.name);
    return was !== undefined && was.priority === g.priority && equalSelectors(was.selector, g.selector);
  });
}

function equalSelectors(a: LabelSelector | undefined, b: LabelSelector | undefined): boolean {
  if (!a || !b) return a === b;
  return equals(LabelSelectorSchema, a, b);
}

/** One namespace's counts, and what each of its agents contributes to them. */
interface Book {
  /** The groups revision counted for, moved on without a pass when the groups changed in nothing counted (sameCounting). */
  revision: number;
  groups: readonly Group[];
  counter: GroupStatusCounter;
  contributions: Map<string, StatusContribution>;
  countedAt: number;
}

/**
 * Group status counts kept per namespace, so GetGroup and ListGroups read
 * counters instead of passing over the namespace's agents.
 *
 * A namespace is counted once from the store (in pages) when first asked;
 * from then on every agent change this replica stores (AgentStore.observe)
 * and every agent it removes is folded in: the agent's old contribution is
 * taken back and its new one added. Which selectors it matches is worked
 * out again (O(groups in the namespace)) only when its description or
 * labels changed; other changes (a report, a connect) cost O(1). The counts
 * are thrown away and counted again when the namespace's groups revision
 * moves (a group created, changed or deleted — on any replica: the catalog
 * reads the revision), and when they are older than `maxAgeMs`, which bounds
 * how long changes stored by other replicas stay unseen.
 *
 * Memory: one small contribution per counted agent (with references to its
 * description and labels).
 */
export class GroupStatusBook {
  /** Counted books: what reads are answered from. */
  private readonly books = new Map<string, Book>();
  /**
   * Books being counted, which follow changes from the start of their pass
   * but are read only once it ends: a book half way through its pass counts
   * a fraction of the namespace (zero at first), and under a slow store a
   * pass takes seconds.
   */
  private readonly counting = new Map<string, { book: Book; counted: Promise<Book> }>();
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(private readonly deps: GroupStatusBookOptions) {
    this.maxAgeMs = deps.maxAgeMs ?? 5_000;
    this.now = deps.now ?? Date.now;
  }

  /** The counts of `groups` (of `namespace`); a group the namespace does not have (any more) counts zero. */
  async statuses(namespace: string, groups: readonly Group[]): Promise<GroupStatus[]> {
    const book = await this.book(namespace);
    return groups.map((g) => book.counter.status(g.name));
  }

  /**
   * An agent as just stored (AgentStore.observe): its contribution replaces
   * the one counted. Of the agent only its description and labels objects
   * are kept (to see whether they changed; a cached agent holds them anyway).
   */
  agentChanged(agent: Readonly<Agent>): void {
    const uid = instanceUidToHex(agent.metadata!.instanceUid);
    const namespace = namespaceOf(agent);
    for (const [ns, book] of this.allBooks()) {
      if (ns !== namespace) {
        forget(book, uid);
        continue;
      }
      const before = book.contributions.get(uid);
      const next = contributionOf(agent, book.groups, before);
      if (before) book.counter.removeContribution(before);
      book.counter.addContribution(next);
      book.contributions.set(uid, next);
    }
  }

  /** An agent removed from the store: what it contributed is taken back. */
  agentRemoved(uid: string): void {
    for (const [, book] of this.allBooks()) forget(book, uid);
  }

  /** The counted books and those being counted: a change is folded into both. */
  private *allBooks(): Iterable<[string, Book]> {
    yield* this.books;
    for (const [ns, { book }] of this.counting) yield [ns, book];
  }

  private async book(namespace: string): Promise<Book> {
    const { revision, groups } = await this.deps.groups(namespace);
    const current = this.books.get(namespace);
    const fresh = current !== undefined && this.now() - current.countedAt <= this.maxAgeMs;
    if (fresh && current.revision === revision) return current;
    if (fresh && sameCounting(current.groups, groups)) {
      // The groups changed only in what the counts do not depend on (a version, a rollout's marks, offers): no pass needed.
      current.revision = revision;
      current.groups = groups;
      return current;
    }
    const inFlight = this.counting.get(namespace);
    if (inFlight) {
      const counted = await inFlight.counted;
      if (counted.revision === revision) return counted;
    }
    const book: Book = { revision, groups, counter: new GroupStatusCounter(groups), contributions: new Map(), countedAt: this.now() };
    // In place before the pass reads its first page (the pass starts in a
    // microtask, after the entry is set), so that no change stored meanwhile is missed.
    const entry = { book, counted: Promise.resolve().then(() => this.count(namespace, book)) };
    this.counting.set(namespace, entry);
    try {
      return await entry.counted;
    } finally {
      if (this.counting.get(namespace) === entry) this.counting.delete(namespace);
    }
  }

  /**
   * One pass over the namespace's agents into `book`, which follows changes
   * (see counting) from the start, so a change stored while the pass runs is
   * not lost: the pass adds an agent only if no change has counted it
   * meanwhile (a change's copy is newer than the page's). The book is read
   * once the pass is over; a pass that fails leaves the previous one.
   */
  private async count(namespace: string, book: Book): Promise<Book> {
    const { revision, groups } = book;
    let agents = 0;
    for (let after: string | undefined; ; ) {
      const page = await this.deps.agents.list({ namespace, limit: AGENT_PAGE, ...(after ? { after } : {}) });
      for (const agent of page) {
        const uid = instanceUidToHex(agent.metadata!.instanceUid);
        if (book.contributions.has(uid)) continue;
        const c = contributionOf(agent, groups);
        book.counter.addContribution(c);
        book.contributions.set(uid, c);
      }
      agents += page.length;
      if (page.length < AGENT_PAGE) break;
      after = instanceUidToHex(page[page.length - 1]!.metadata!.instanceUid);
    }
    this.deps.logger.debug({ namespace, revision, agents }, "group status counted from the store");
    // A pass that started later (the groups changed meanwhile) may have ended first.
    if ((this.books.get(namespace)?.countedAt ?? -Infinity) <= book.countedAt) this.books.set(namespace, book);
    return book;
  }
}

function forget(book: Book, uid: string): void {
  const before = book.contributions.get(uid);
  if (!before) return;
  book.counter.removeContribution(before);
  book.contributions.delete(uid);
}
