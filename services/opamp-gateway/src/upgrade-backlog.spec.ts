import { describe, expect, it } from "vitest";
import { UpgradeBacklog, type WaitingUpgrade } from "./upgrade-backlog.js";

/** A backlog on a clock of its own, and upgrades that note what they were told. */
function backlog(places: number, waiting: number, waitMs = 1_000) {
  let now = 1_000;
  const told: string[] = [];
  const b = new UpgradeBacklog({ places, waiting, waitMs, now: () => now });
  const upgrade = (name: string): WaitingUpgrade => ({ proceed: () => told.push(`${name} proceeds`), refuse: () => told.push(`${name} refused`) });
  /** What transport does with a new upgrade: a place if one is free, else the queue. */
  const enter = (u: WaitingUpgrade) => (b.take() ? "proceed" : b.wait(u));
  return { b, told, upgrade, enter, advance: (ms: number) => (now += ms) };
}

describe("the upgrade backlog", () => {
  it("gives places at once up to its bound, then queues; given back, the places go to the waiting upgrades in the order they came", () => {
    const { b, told, upgrade, enter } = backlog(2, 10);
    expect(enter(upgrade("a"))).toBe("proceed");
    expect(enter(upgrade("b"))).toBe("proceed");
    expect(enter(upgrade("c"))).toBe("waiting");
    expect(enter(upgrade("d"))).toBe("waiting");
    expect(enter(upgrade("e"))).toBe("waiting");
    expect(told).toEqual([]);
    expect(b.upgradedUnanswered).toBe(2);

    b.release();
    expect(told).toEqual(["c proceeds"]);
    b.release();
    b.release();
    expect(told).toEqual(["c proceeds", "d proceeds", "e proceeds"]);
    // The places passed on: still two taken, none waiting.
    expect(b.upgradedUnanswered).toBe(2);
    expect(b.waiting).toBe(0);
    b.release();
    b.release();
    expect(b.upgradedUnanswered).toBe(0);
    // Free again: a new upgrade proceeds at once.
    expect(enter(upgrade("f"))).toBe("proceed");
  });

  it("lets no new upgrade pass the waiting ones", () => {
    const { b, told, upgrade, enter } = backlog(1, 10);
    enter(upgrade("a"));
    enter(upgrade("b"));
    b.release();
    expect(told).toEqual(["b proceeds"]);
    b.release();
    expect(b.upgradedUnanswered).toBe(0);
    enter(upgrade("c"));
    expect(enter(upgrade("d"))).toBe("waiting");
    b.release();
    expect(told).toEqual(["b proceeds", "d proceeds"]);
  });

  it("drops a waiting upgrade that leaves (its socket closed): the next place goes to the one after it", () => {
    const { b, told, upgrade, enter } = backlog(1, 10);
    enter(upgrade("a"));
    const gone = upgrade("gone");
    expect(enter(gone)).toBe("waiting");
    enter(upgrade("c"));
    b.leave(gone);
    expect(b.waiting).toBe(1);
    b.release();
    expect(told).toEqual(["c proceeds"]);
  });

  it("refuses an upgrade beyond the queue's bound at once, and takes one again when the queue has room", () => {
    const { b, told, upgrade, enter } = backlog(1, 2);
    enter(upgrade("a"));
    expect(enter(upgrade("b"))).toBe("waiting");
    expect(enter(upgrade("c"))).toBe("waiting");
    expect(enter(upgrade("d"))).toBe("refused");
    expect(b.waiting).toBe(2);
    b.release();
    expect(enter(upgrade("e"))).toBe("waiting");
    expect(told).toEqual(["b proceeds"]);
  });

  it("refuses, at the sweep after it, an upgrade that waited past its deadline, and only those", () => {
    const { b, told, upgrade, enter, advance } = backlog(1, 10, 1_000);
    enter(upgrade("a"));
    enter(upgrade("early"));
    advance(500);
    enter(upgrade("late"));
    advance(499);
    b.sweep();
    expect(told).toEqual([]);
    advance(1);
    b.sweep();
    expect(told).toEqual(["early refused"]);
    expect(b.waiting).toBe(1);
    // A refused upgrade took no place: the place held goes to the one still waiting.
    b.release();
    expect(told).toEqual(["early refused", "late proceeds"]);
    advance(10_000);
    b.sweep();
    expect(told).toEqual(["early refused", "late proceeds"]);
  });

  it("refuses every waiting upgrade when the gateway stops, in the order they came", () => {
    const { b, told, upgrade, enter } = backlog(1, 10);
    enter(upgrade("a"));
    enter(upgrade("b"));
    enter(upgrade("c"));
    b.refuseWaiting();
    expect(told).toEqual(["b refused", "c refused"]);
    expect(b.waiting).toBe(0);
    b.release();
    expect(b.upgradedUnanswered).toBe(0);
  });
});
