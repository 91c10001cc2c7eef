import { describe, expect, it } from "vitest";
import { UpgradeBacklog, type UpgradePlace, type WaitingUpgrade } from "./upgrade-backlog.js";

/** A backlog on a clock of its own, and upgrades, by name, that note what they were told and the place they hold. */
function backlog(places: number, waiting: number, waitMs = 1_000, holdMs = 60_000) {
  let now = 1_000;
  const told: string[] = [];
  const held = new Map<string, UpgradePlace>();
  const b = new UpgradeBacklog({ places, waiting, waitMs, holdMs, now: () => now });
  const upgrades = new Map<string, WaitingUpgrade>();
  const upgrade = (name: string): WaitingUpgrade => {
    const u: WaitingUpgrade = {
      proceed: (place) => {
        held.set(name, place);
        told.push(`${name} proceeds`);
      },
      refuse: () => told.push(`${name} refused`),
    };
    upgrades.set(name, u);
    return u;
  };
  /** What the transport does with a new upgrade: a place if one is free, else the queue. */
  const enter = (name: string) => {
    const place = b.take();
    if (place) {
      held.set(name, place);
      return "proceed";
    }
    return b.wait(upgrade(name));
  };
  /** The upgrade's first message answered, or its socket closed: its place given back. */
  const release = (name: string) => b.release(held.get(name)!);
  return { b, told, enter, release, upgrades, advance: (ms: number) => (now += ms) };
}

describe("the upgrade backlog", () => {
  it("gives places at once up to its bound, then queues; given back, the places go to the waiting upgrades in the order they came", () => {
    const { b, told, enter, release } = backlog(2, 10);
    expect(enter("a")).toBe("proceed");
    expect(enter("b")).toBe("proceed");
    expect(enter("c")).toBe("waiting");
    expect(enter("d")).toBe("waiting");
    expect(enter("e")).toBe("waiting");
    expect(told).toEqual([]);
    expect(b.upgradedUnanswered).toBe(2);

    release("a");
    expect(told).toEqual(["c proceeds"]);
    release("b");
    release("c");
    expect(told).toEqual(["c proceeds", "d proceeds", "e proceeds"]);
    // The places passed on: still two taken, none waiting.
    expect(b.upgradedUnanswered).toBe(2);
    expect(b.waiting).toBe(0);
    release("d");
    release("e");
    expect(b.upgradedUnanswered).toBe(0);
    // Free again: a new upgrade proceeds at once.
    expect(enter("f")).toBe("proceed");
  });

  it("takes a place given back twice as given back once", () => {
    const { b, told, enter, release } = backlog(1, 10);
    enter("a");
    enter("b");
    enter("c");
    release("a");
    release("a");
    expect(told).toEqual(["b proceeds"]);
    expect(b.upgradedUnanswered).toBe(1);
    expect(b.waiting).toBe(1);
  });

  it("lets no new upgrade pass the waiting ones", () => {
    const { b, told, enter, release } = backlog(1, 10);
    enter("a");
    enter("b");
    release("a");
    expect(told).toEqual(["b proceeds"]);
    release("b");
    expect(b.upgradedUnanswered).toBe(0);
    enter("c");
    expect(enter("d")).toBe("waiting");
    release("c");
    expect(told).toEqual(["b proceeds", "d proceeds"]);
  });

  it("drops a waiting upgrade that leaves (its socket closed): the next place goes to the one after it", () => {
    const { b, told, enter, release, upgrades } = backlog(1, 10);
    enter("a");
    expect(enter("gone")).toBe("waiting");
    enter("c");
    b.leave(upgrades.get("gone")!);
    expect(b.waiting).toBe(1);
    release("a");
    expect(told).toEqual(["c proceeds"]);
  });

  it("refuses an upgrade beyond the queue's bound at once, and takes one again when the queue has room", () => {
    const { b, told, enter, release } = backlog(1, 2);
    enter("a");
    expect(enter("b")).toBe("waiting");
    expect(enter("c")).toBe("waiting");
    expect(enter("d")).toBe("refused");
    expect(b.waiting).toBe(2);
    release("a");
    expect(enter("e")).toBe("waiting");
    expect(told).toEqual(["b proceeds"]);
  });

  it("refuses, at the sweep after it, an upgrade that waited past its deadline, and only those", () => {
    const { b, told, enter, release, advance } = backlog(1, 10, 1_000);
    enter("a");
    enter("early");
    advance(500);
    enter("late");
    advance(499);
    b.sweep();
    expect(told).toEqual([]);
    advance(1);
    b.sweep();
    expect(told).toEqual(["early refused"]);
    expect(b.waiting).toBe(1);
    // A refused upgrade took no place: the place held goes to the one still waiting.
    release("a");
    expect(told).toEqual(["early refused", "late proceeds"]);
    advance(10_000);
    b.sweep();
    expect(told).toEqual(["early refused", "late proceeds"]);
  });

  it("lapses a place held past its hold at the sweep after it (a silent socket's), passing it to the oldest waiting upgrade; its later release is nothing", () => {
    const { b, told, enter, release, advance } = backlog(2, 10, 60_000, 2_000);
    enter("silent");
    advance(1_000);
    enter("answered");
    enter("w1");
    enter("w2");
    advance(999);
    b.sweep();
    expect(told).toEqual([]);
    advance(1);
    b.sweep();
    // Only the place taken 2 s ago lapsed; the one taken 1 s ago holds on.
    expect(told).toEqual(["w1 proceeds"]);
    expect(b.upgradedUnanswered).toBe(2);
    // The silent socket speaks and is answered late: its lapsed place is not given back a second time.
    release("silent");
    expect(told).toEqual(["w1 proceeds"]);
    expect(b.waiting).toBe(1);
    release("answered");
    expect(told).toEqual(["w1 proceeds", "w2 proceeds"]);
    // w1's and w2's places, given to them at that moment, lapse 2 s after it: each place's hold runs from when it was given.
    advance(1_999);
    b.sweep();
    expect(b.upgradedUnanswered).toBe(2);
    advance(1);
    b.sweep();
    expect(b.upgradedUnanswered).toBe(0);
  });

  it("refuses every waiting upgrade when the gateway stops, in the order they came", () => {
    const { b, told, enter, release } = backlog(1, 10);
    enter("a");
    enter("b");
    enter("c");
    b.refuseWaiting();
    expect(told).toEqual(["b refused", "c refused"]);
    expect(b.waiting).toBe(0);
    release("a");
    expect(b.upgradedUnanswered).toBe(0);
  });
});
