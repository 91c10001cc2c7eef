import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { instanceUidToHex } from "@fleetplane/platform";
import { WsAgent, description } from "./support/simulated-agent.js";
import { eventually, storedAgentAfterRestart } from "./support/standalone-server.js";

const main = join(import.meta.dirname, "../services/fleetplane/src/main.ts");

describe("SIGTERM on a standalone process", () => {
  it("closes agent sockets with 1001, records them disconnected, and exits 0", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-sigterm-"));
    const child = spawn(process.execPath, ["--import", "tsx", main, "standalone", "--opamp-port", "0", "--api-port", "0", "--data-dir", dataDir], { stdio: ["ignore", "pipe", "ignore"] });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const opampUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("standalone did not start")), 20_000);
      createInterface({ input: child.stdout }).on("line", (line) => {
        const entry = JSON.parse(line) as { msg?: string; opamp?: string };
        if (entry.msg === "Fleetplane standalone is running") {
          clearTimeout(timer);
          resolve(entry.opamp!);
        }
      });
    });
    const agent = await WsAgent.connect(opampUrl);
    agent.send({ agentDescription: description("sigterm") as never });
    await eventually(() => agent.received[0], 10_000, "first reply");

    child.kill("SIGTERM");
    await eventually(() => agent.closeCode, 10_000, "close frame");
    expect(agent.closeCode).toBe(1001);
    expect(await exited).toBe(0);

    // The store was flushed and closed cleanly: the agent is there, disconnected.
    const stored = await storedAgentAfterRestart(dataDir, instanceUidToHex(agent.uid));
    expect(stored?.status?.connected).toBe(false);
  });
});
