/**
 * An upgrade held before its 101: told once to go on (`proceed`: it holds a
 * place from then), or that it is refused (`refuse`: the queue was full, or
 * it waited past its deadline).
 */
export interface WaitingUpgrade {
  proceed(place: UpgradePlace): void;
  refuse(): void;
}

/**
 * A place an upgrade holds from its 101 to its first answer; given back once
 * (`UpgradeBacklog.release`), or lapsed by the backlog when held past
 * `holdMs` (a later release is then nothing).
 */
export interface UpgradePlace {
  readonly takenAt: number;
}

export interface UpgradeBacklogOptions {
  /** Upgraded WebSockets whose first message is not answered yet, at most. */
  places: number;
  /** Upgrades waiting for a place, at most; one more is refused. */
  waiting: number;
  /** How long an upgrade may wait for a place; past it, it is refused (at the next sweep). */
  waitMs: number;
  /** How long a place is held at most; past it, it goes to the next upgrade (at the next sweep). Default PLACE_HOLD_MS. */
  holdMs?: number;
  now?: () => number;
}

/**
 * At most UPGRADE_PLACES upgraded WebSockets whose first message is not
 * answered yet, per gateway process (each gateway worker its own): in a
 * 4,000-agent storm the upgrades ran ~2,000 agents ahead of agent-service's
 * answers, and what those agents held (their sockets, decoded first reports,
 * connection records) lived through several scavenges, copied each time —
 * most of the storm's GC. Holding the upgrades beyond 256 before their 101
 * (the agent has sent nothing but its request then, so nothing of its report
 * is read or kept) cut the server's CPU per new agent by ~11 %
 * (docs/performance.md §43). 256 is what was measured; it is several times
 * what one agent-service batch answers at once, so agent-service never waits
 * for upgrades.
 */
export const UPGRADE_PLACES = 256;

/**
 * Upgrades waiting for a place, at most. A waiting upgrade holds its socket
 * and request head only (a few KiB); at the ~600 answers per second of this
 * project's 2-core storm bench, a queue of 4,096 drains in ~7 s, well inside
 * the wait deadline, and the 4,000-agent storm fits in it without a refusal.
 * Beyond it an agent is better told to come back later than held.
 */
export const UPGRADE_WAITING = 4_096;

/**
 * How long an upgraded WebSocket holds its place at most, answered or not.
 * Without a bound, 256 sockets that upgrade and then stay silent (or whose
 * first message agent-service is slow to answer) would hold every place for
 * --first-message-timeout-seconds, and every other agent's upgrade would wait
 * behind them, then be refused. Lapsed after 2 s, their places go to the
 * waiting upgrades in the order these came: silent sockets slow the others
 * by their share of the arrivals, they cannot stop them. In the storm that
 * measured the backlog a first message was answered within ~1 s of its 101
 * (the first agent-service batch included), so the bound does not loosen
 * there.
 */
export const PLACE_HOLD_MS = 2_000;

/**
 * The backlog of WebSocket upgrades, bounded at the upgrade: at most `places`
 * upgraded WebSockets whose first message is not answered yet; an upgrade
 * beyond them waits, in the order it came (FIFO), before its 101, until a
 * place is given back (`release`: the first message answered, or the socket
 * closed before) or lapses (held past `holdMs`); at most `waiting` wait, and
 * none longer than `waitMs`.
 * Nothing waits forever, nothing is unbounded.
 *
 * How it relates to NewAgentAdmission's `connecting` places
 * (--max-connecting-agents): those count first messages admitted and not yet
 * answered (WebSocket and plain HTTP alike), and refuse one beyond the limit
 * with an error_response; this counts WebSocket upgrades, from the 101 to the
 * first answer, and holds one beyond the limit before its 101. An upgraded
 * WebSocket whose first message is admitted holds both; one still silent
 * holds only this.
 */
export class UpgradeBacklog {
  /** Places held and when each lapses, oldest first (a Map keeps insertion order; every place has the same hold). */
  private readonly held = new Map<UpgradePlace, number>();
  private readonly holdMs: number;
  /** Waiting upgrades and when each must have a place, oldest first (a Map keeps insertion order). */
  private readonly queue = new Map<WaitingUpgrade, number>();
  private readonly now: () => number;

  constructor(private readonly o: UpgradeBacklogOptions) {
    this.now = o.now ?? Date.now;
    this.holdMs = o.holdMs ?? PLACE_HOLD_MS;
  }

  /**
   * Takes a place for an upgrade if one is free and no upgrade waits;
   * otherwise (undefined) the upgrade must `wait`. Two calls, so that the
   * common case, a place free, makes nothing to queue.
   */
  take(): UpgradePlace | undefined {
    // No upgrade can pass a waiting one: while any waits, every place is taken (a place given back goes to the queue first).
    if (this.held.size >= this.o.places) return undefined;
    return this.newPlace();
  }

  private newPlace(): UpgradePlace {
    const place = { takenAt: this.now() };
    this.held.set(place, place.takenAt + this.holdMs);
    return place;
  }

  /**
   * Queues an upgrade `take` found no place for: "waiting" (`upgrade.proceed`
   * or `upgrade.refuse` is called later, unless it leaves first), or
   * "refused" at once (the queue is full; `upgrade` is told nothing).
   */
  wait(upgrade: WaitingUpgrade): "waiting" | "refused" {
    if (this.queue.size >= this.o.waiting) return "refused";
    this.queue.set(upgrade, this.now() + this.o.waitMs);
    return "waiting";
  }

  /** A waiting upgrade whose socket closed: it leaves the queue, and is told nothing. */
  leave(upgrade: WaitingUpgrade): void {
    this.queue.delete(upgrade);
  }

  /**
   * A place is given back (an upgraded WebSocket's first message answered, or
   * its socket closed first): the oldest waiting upgrade gets a place. A
   * place given back before, or lapsed, is nothing.
   */
  release(place: UpgradePlace): void {
    if (!this.held.delete(place)) return;
    this.passOn();
  }

  /** A place is free: to the oldest waiting upgrade, if any. */
  private passOn(): void {
    const next = this.queue.keys().next();
    if (next.done) return;
    this.queue.delete(next.value);
    next.value.proceed(this.newPlace());
  }

  /** Lapses the places held past `holdMs` (each goes on to a waiting upgrade), then refuses the upgrades waiting past their deadline; oldest first. */
  sweep(): void {
    const now = this.now();
    for (const [place, lapses] of this.held) {
      // Taken in order with the same hold, so lapses are in order too.
      if (lapses > now) break;
      this.held.delete(place);
      this.passOn();
    }
    for (const [upgrade, due] of this.queue) {
      // Queued in order with the same wait, so deadlines are in order too.
      if (due > now) break;
      this.queue.delete(upgrade);
      upgrade.refuse();
    }
  }

  /** Refuses every waiting upgrade, oldest first (the gateway is stopping: no place will be given to them). */
  refuseWaiting(): void {
    for (const upgrade of [...this.queue.keys()]) {
      this.queue.delete(upgrade);
      upgrade.refuse();
    }
  }

  /** Places taken: upgraded WebSockets whose first message is not answered yet. */
  get upgradedUnanswered(): number {
    return this.held.size;
  }

  /** Upgrades waiting for a place. */
  get waiting(): number {
    return this.queue.size;
  }
}
