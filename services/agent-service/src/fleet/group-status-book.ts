import { equals } from "@bufbuild/protobuf";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { LabelSelectorSchema, type Group, type GroupStatus, type LabelSelector } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { instanceUidToHex, type Logger } from "@fleetplane/platform";
import { namespaceOf } from "../agents/agent-namespace.js";
import { AGENT_PAGE, agentsNamed, namespaceRevisions, type AgentPageReader } from "../agents/agent-pages.js";
import { contributionOf, GroupStatusCounter, type StatusContribution } from "./group-status.js";

export interface GroupStatusBookOptions {
  /**
   * Reads agents in pages: the agent repository itself (its copies are
   * decoded for the count and dropped; cached copies differ only in
   * liveness, which is not counted).
   */
  agents: AgentPageReader;
  /** The namespace's groups and their revision (the group catalog's snapshot). */
  groups: (namespace: string) => Promise<{ revision: number; groups: readonly Group[] }>;
  /**
   * How old a namespace's counts may grow before a read brings them up to
   * date from the store. Changes stored by this replica are folded in as
   * they happen; changes stored by another replica are seen only then.
   * Infinity: this replica stores every change (standalone). Default 5 s.
   */
  maxAgeMs?: number;
  logger: Logger;
  now?: () => number;
}


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
  /** The stored revision of the copy each contribution was made from. */
  revisions: Map<string, bigint>;
  countedAt: number;
  /** While the book is brought up to date (see refresh): the agents changed or removed since that began. */
  touched?: Set<string>;
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
 * reads the revision). Counts older than `maxAgeMs` (which bounds how long
 * changes stored by other replicas stay unseen) are brought up to date
 * instead: the namespace's stored revisions are read (no agent decoded) and
 * only the agents whose revision differs from the copy counted are read
 * again — a read of the group's status every few seconds during a rollout
 * of thousands decoded the whole namespace each time.
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
  /** Counted books being brought up to date (see refresh), one pass at a time. */
  private readonly refreshing = new Map<string, { book: Book; done: Promise<Book> }>();
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
      book.touched?.add(uid);
      if (ns !== namespace) forget(book, uid);
      else count(book, uid, agent);
    }
  }

  /** An agent removed from the store: what it contributed is taken back. */
  agentRemoved(uid: string): void {
    for (const [, book] of this.allBooks()) {
      book.touched?.add(uid);
      forget(book, uid);
    }
  }

  /** The counted books and those being counted: a change is folded into both. */
  private *allBooks(): Iterable<[string, Book]> {
    yield* this.books;
    for (const [ns, { book }] of this.counting) yield [ns, book];
  }

  private async book(namespace: string): Promise<Book> {
    const { revision, groups } = await this.deps.groups(namespace);
    const current = this.books.get(namespace);
    const same = current !== undefined && (current.revision === revision || sameCounting(current.groups, groups));
    if (same) {
      // The groups changed only in what the counts do not depend on (a version, a rollout's marks, offers): no pass needed.
      current.revision = revision;
      current.groups = groups;
      if (this.now() - current.countedAt <= this.maxAgeMs) return current;
      return this.refreshed(namespace, current);
    }
    const inFlight = this.counting.get(namespace);
    if (inFlight) {
      const counted = await inFlight.counted;
      if (counted.revision === revision) return counted;
    }
    const book: Book = { revision, groups, counter: new GroupStatusCounter(groups), contributions: new Map(), revisions: new Map(), countedAt: this.now() };
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

  /** The book brought up to date (see refresh); reads that come meanwhile wait for the same pass. */
  private refreshed(namespace: string, book: Book): Promise<Book> {
    const inFlight = this.refreshing.get(namespace);
    if (inFlight?.book === book) return inFlight.done;
    const entry = { book, done: this.refresh(namespace, book).finally(() => this.refreshing.get(namespace) === entry && this.refreshing.delete(namespace)) };
    this.refreshing.set(namespace, entry);
    return entry.done;
  }

  /**
   * Brings a counted book up to date in place: one pass over the
   * namespace's stored revisions, then a read of just the agents whose
   * revision differs from the copy counted (changed, or new), and the
   * agents no longer stored are taken out. Each agent stays counted once
   * throughout (a read meanwhile sees some contributions older than others,
   * never a partial count). Changes folded in while the pass runs
   * (`touched`) are newer than what the pass read and are kept. A pass
   * that fails leaves every agent counted once (those it had read again
   * from their newer copies, the rest as before) and its age unchanged, so
   * the next read brings it up to date again.
   */
  private async refresh(namespace: string, book: Book): Promise<Book> {
    const startedAt = this.now();
    const touched = new Set<string>();
    book.touched = touched;
    try {
      const stored = new Set<string>();
      const moved: string[] = [];
      for await (const page of namespaceRevisions(this.deps.agents, namespace)) {
        for (const { uid, revision } of page) {
          stored.add(uid);
          if (book.revisions.get(uid) !== revision) moved.push(uid);
        }
      }
      const found = new Set<string>();
      for (const agent of await agentsNamed(this.deps.agents, namespace, moved)) {
        const uid = instanceUidToHex(agent.metadata!.instanceUid);
        found.add(uid);
        if (!touched.has(uid)) count(book, uid, agent);
      }
      // Deleted (or moved to another namespace) between the two reads.
      for (const uid of moved) if (!found.has(uid)) stored.delete(uid);
      for (const uid of [...book.contributions.keys()]) if (!stored.has(uid) && !touched.has(uid)) forget(book, uid);
      book.countedAt = startedAt;
      this.deps.logger.debug({ namespace, agents: stored.size, read: moved.length }, "group status brought up to date from the store");
      return book;
    } finally {
      if (book.touched === touched) delete book.touched;
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
        count(book, uid, agent);
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

/** Counts `agent` (as stored) in place of what it contributed before. */
function count(book: Book, uid: string, agent: Readonly<Agent>): void {
  const before = book.contributions.get(uid);
  const next = contributionOf(agent, book.groups, before);
  if (before) book.counter.removeContribution(before);
  book.counter.addContribution(next);
  book.contributions.set(uid, next);
  book.revisions.set(uid, agent.revision);
}

function forget(book: Book, uid: string): void {
  const before = book.contributions.get(uid);
  book.revisions.delete(uid);
  if (!before) return;
  book.counter.removeContribution(before);
  book.contributions.delete(uid);
}
