import { UsageError } from "@fleetplane/platform";
import { describe, expect, it } from "vitest";
import { agentRetentionOf } from "./agent-retention-choice.js";

describe("--agent-retention", () => {
  it("takes a whole number with s, m, h or d, and 0 for keeping agents forever; 30 days by default", () => {
    const of = (given?: string) => agentRetentionOf(given === undefined ? {} : { "agent-retention": given });
    expect(of()).toBe(30 * 86_400_000);
    expect(of("12h")).toBe(12 * 3_600_000);
    expect(of("90m")).toBe(90 * 60_000);
    expect(of("2s")).toBe(2_000);
    expect(of("0")).toBe(0);
  });

  it.each(["30", "1.5d", "-1d", "30 d", "1w", "0d", ""])("refuses %j naming the flag", (given) => {
    expect(() => agentRetentionOf({ "agent-retention": given })).toThrow(UsageError);
    expect(() => agentRetentionOf({ "agent-retention": given })).toThrow(/--agent-retention/);
  });
});
