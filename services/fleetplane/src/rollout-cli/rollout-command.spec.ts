import { PassThrough } from "node:stream";
import { UsageError } from "@fleetplane/platform";
import { describe, expect, it } from "vitest";
import { runRollout } from "./rollout-command.js";

async function run(argv: string[]): Promise<{ code: number; text: string }> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d) => (text += d));
  const code = await runRollout(argv, out);
  return { code, text };
}

describe("fleetplane rollout (without a server)", () => {
  it("has --help for every command, naming its usage and its flags", async () => {
    expect((await run(["--help"])).text).toMatch(/rollback\s+Give the moved agents the previous version again/);
    for (const sub of ["start", "status", "list", "watch", "pause", "resume", "abort", "rollback"]) {
      const { code, text } = await run([sub, "--help"]);
      expect(code, sub).toBe(0);
      expect(text, sub).toMatch(new RegExp(`^Usage: fleetplane rollout ${sub} `));
      expect(text, sub).toContain("--api-key <string>");
    }
    expect((await run(["start", "--help"])).text).toMatch(/--stages <string>[\s\S]*--on-failure <string>[\s\S]*--\[no-\]skip-failed-agents/);
  });

  it("refuses an unknown command, a missing rollout and an id given twice, before calling anything", async () => {
    await expect(run(["retry"])).rejects.toThrow(/fleetplane rollout has no command "retry": use one of start, status/);
    await expect(run(["pause"])).rejects.toThrow(UsageError);
    await expect(run(["pause"])).rejects.toThrow(/name the rollout: its id .* or --group/);
    await expect(run(["abort", "r1", "--group", "g"])).rejects.toThrow(/give a rollout id or --group, not both/);
    await expect(run(["status", "r1", "-o", "xml"])).rejects.toThrow(/--output must be table, json or yaml, got "xml"/);
  });
});
