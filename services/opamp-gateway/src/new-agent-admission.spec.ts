import { describe, expect, it } from "vitest";
import { NewAgentAdmission } from "./new-agent-admission.js";

function clock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("NewAgentAdmission", () => {
  it("admits a source's new agents up to its rate per second, then refuses until tokens refill", () => {
    const c = clock();
    const admission = new NewAgentAdmission({ perSource: 2, total: 0, now: c.now });
    expect(admission.admit("a1", "10.0.0.1")).toBeUndefined();
    expect(admission.admit("a2", "10.0.0.1")).toBeUndefined();
    expect(admission.admit("a3", "10.0.0.1")).toBe("per-source");
    expect(admission.admit("b1", "10.0.0.2")).toBeUndefined();
    c.advance(500);
    expect(admission.admit("a3", "10.0.0.1")).toBeUndefined();
    expect(admission.admit("a4", "10.0.0.1")).toBe("per-source");
  });

  it("lets an agent it admitted come back at once, at any rate", () => {
    const admission = new NewAgentAdmission({ perSource: 1, total: 1, now: () => 0 });
    expect(admission.admit("a1", "10.0.0.1")).toBeUndefined();
    for (let i = 0; i < 10; i++) expect(admission.admit("a1", "10.0.0.9")).toBeUndefined();
  });

  it("refuses over the total rate without spending the source's token", () => {
    const c = clock();
    const admission = new NewAgentAdmission({ perSource: 1, total: 1, now: c.now });
    expect(admission.admit("a1", "10.0.0.1")).toBeUndefined();
    expect(admission.admit("b1", "10.0.0.2")).toBe("total");
    c.advance(1_000);
    expect(admission.admit("b1", "10.0.0.2")).toBeUndefined();
  });

  it("admits everything with both rates 0, and forgets the oldest UIDs beyond its memory", () => {
    const open = new NewAgentAdmission({ perSource: 0, total: 0 });
    for (let i = 0; i < 1_000; i++) expect(open.admit(`u${i}`, "10.0.0.1")).toBeUndefined();

    const admission = new NewAgentAdmission({ perSource: 0, total: 2, rememberedUids: 2, now: () => 0 });
    admission.admit("u1", "s");
    admission.admit("u2", "s");
    expect(admission.admit("u1", "s")).toBeUndefined(); // remembered: no token needed
    expect(admission.admit("u3", "s")).toBe("total");
  });

  it("holds at most `connecting` sessions awaiting their first answer, returning agents too, and takes no rate token from those it refuses", () => {
    const admission = new NewAgentAdmission({ perSource: 0, total: 3, connecting: 2, now: () => 0 });
    expect(admission.admit("a1", "s")).toBeUndefined();
    expect(admission.admit("a2", "s")).toBeUndefined();
    expect(admission.connecting).toBe(2);
    expect(admission.admit("a3", "s")).toBe("connecting");
    expect(admission.admit("a1", "s")).toBe("connecting"); // known, but its first message costs the same
    admission.answered();
    expect(admission.connecting).toBe(1);
    // The refusals above spent no token of the total rate (3): a3 gets the last one.
    expect(admission.admit("a3", "s")).toBeUndefined();
    expect(admission.admit("a4", "s")).toBe("connecting");
    admission.answered();
    expect(admission.admit("a4", "s")).toBe("total");
    expect(admission.connecting).toBe(1);
  });

  it("gives no place for a refusal over a rate, and never counts below zero", () => {
    const admission = new NewAgentAdmission({ perSource: 1, total: 0, connecting: 5, now: () => 0 });
    expect(admission.admit("a1", "s")).toBeUndefined();
    expect(admission.admit("a2", "s")).toBe("per-source");
    expect(admission.connecting).toBe(1);
    admission.answered();
    admission.answered();
    expect(admission.connecting).toBe(0);
  });

  it("counts but does not limit connecting sessions with `connecting` 0", () => {
    const admission = new NewAgentAdmission({ perSource: 0, total: 0, connecting: 0 });
    for (let i = 0; i < 100; i++) expect(admission.admit(`u${i}`, "s")).toBeUndefined();
    expect(admission.connecting).toBe(100);
  });
});
