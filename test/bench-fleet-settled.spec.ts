import { describe, expect, it } from "vitest";
import { answeredNeeded, NotSettledError, SettledPercentError, whenSettled, type AnsweringFleet } from "../bench/fleet-settled.js";

// The rule that opens the idle100k heartbeat window (bench/fleet-settled.ts); no servers.

/** A fleet whose answered count grows by `step` each time it is asked, up to `agents`; it says when all have answered. */
function growingFleet(agents: number, step: number): AnsweringFleet & { asked: number; allAskedFor: boolean } {
  let answered = 0;
  const fleet = {
    asked: 0,
    allAskedFor: false,
    async answered() {
      fleet.asked++;
      answered = Math.min(agents, answered + step);
      return answered;
    },
    async whenAllAnswered() {
      fleet.allAskedFor = true;
      answered = agents;
    },
  };
  return fleet;
}

describe("the share of a fleet that opens a measurement window", () => {
  it("is rounded up to whole agents, so a share never opens with fewer than it states", () => {
    expect(answeredNeeded(100_000, 99.9)).toBe(99_900);
    expect(answeredNeeded(100_000, 99.99)).toBe(99_990);
    expect(answeredNeeded(30_000, 99.9)).toBe(29_970);
    expect(answeredNeeded(10, 99.9)).toBe(10);
    expect(answeredNeeded(3, 50)).toBe(2);
    expect(answeredNeeded(100_000, 100)).toBe(100_000);
  });

  it("refuses a percent outside (0, 100]", () => {
    for (const p of [0, -1, 100.5, Number.NaN]) expect(() => answeredNeeded(1_000, p)).toThrow(SettledPercentError);
  });

  it("opens below 100 % as soon as the share has answered, without waiting for the last agent", async () => {
    const fleet = growingFleet(1_000, 100);
    await expect(whenSettled(fleet, { agents: 1_000, percent: 99.9, pollMs: 0, timeoutMs: 60_000 })).resolves.toBe(1_000);
    expect(fleet.allAskedFor).toBe(false);

    const half = growingFleet(1_000, 100);
    await expect(whenSettled(half, { agents: 1_000, percent: 50, pollMs: 0, timeoutMs: 60_000 })).resolves.toBe(500);
    expect(half.asked).toBe(5);
    expect(half.allAskedFor).toBe(false);
  });

  it("at 100 % waits for the fleet's own moment when every agent has answered (the old rule)", async () => {
    const fleet = growingFleet(1_000, 1);
    await expect(whenSettled(fleet, { agents: 1_000, percent: 100, pollMs: 0, timeoutMs: 60_000 })).resolves.toBe(1_000);
    expect(fleet.allAskedFor).toBe(true);
  });

  it("says how many had answered when the share is not reached in time", async () => {
    const stuck = growingFleet(1_000, 0);
    const err = await whenSettled(stuck, { agents: 1_000, percent: 99.9, pollMs: 1, timeoutMs: 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotSettledError);
    expect(err).toMatchObject({ answered: 0, needed: 999 });
  });
});
