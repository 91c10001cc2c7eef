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
});
