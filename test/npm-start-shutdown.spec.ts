import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { instanceUidToHex } from "@fleetplane/platform";
import { eventually } from "./support/eventually.js";
import { WsAgent, description } from "./support/simulated-agent.js";
import { storedAgentAfterRestart } from "./support/standalone-server.js";

const root = join(import.meta.dirname, "..");

// SIGTERM to the whole process group is what a terminal's Ctrl-C, `kill -- -pgid`
// and many supervisors do: npm, the run script and the server all get it, and
// wrappers may pass it on a second time. Issue 15 item 7: the server logged
// "shutting down" but was killed before "stopped", its agents never closed.
describe("SIGTERM to the process group of `npm start`", () => {
  it("shuts the server down gracefully: agents get 1001, the server logs stopped, the agent is stored disconnected", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-npm-start-"));
    const child = spawn("npm", ["start", "--", "--opamp-port", "0", "--api-port", "0", "--data-dir", dataDir, "--no-console"], {
      cwd: root,
      detached: true, // its own process group, as a terminal gives it
      stdio: ["ignore", "pipe", "ignore"],
    });
    const messages: string[] = [];
    let opampUrl: string | undefined;
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (!line.startsWith("{")) return; // npm's own "> fleetplane@ start" lines
      const entry = JSON.parse(line) as { msg?: string; opamp?: string };
      if (entry.msg) messages.push(entry.msg);
      if (entry.msg === "Fleetplane standalone is running") opampUrl = entry.opamp;
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      const url = await eventually(() => opampUrl, 60_000, "npm start to report the server running");
      const agent = await WsAgent.connect(url);
      agent.send({ agentDescription: description("npm-start") as never });
      await eventually(() => agent.received[0], 10_000, "first reply");

      process.kill(-child.pid!, "SIGTERM");
      await eventually(() => agent.closeCode, 15_000, "close frame");
      expect(agent.closeCode).toBe(1001);
      await eventually(() => messages.includes("stopped"), 15_000, "the server to log stopped");
      await exited;

      const stored = await storedAgentAfterRestart(dataDir, instanceUidToHex(agent.uid));
      expect(stored?.status?.connected).toBe(false);
    } finally {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
});
