import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { instanceUidToHex } from "@fleetplane/platform";
import { WsAgent, description } from "./support/simulated-agent.js";
import { startStandaloneProcess } from "./support/standalone-process.js";
import { eventually, storedAgentAfterRestart } from "./support/standalone-server.js";

describe("SIGTERM on a standalone process", () => {
  it("closes agent sockets with 1001, records them disconnected, and exits 0", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-sigterm-"));
    const { child, exited, opampUrl } = await startStandaloneProcess(["--opamp-port", "0", "--api-port", "0", "--data-dir", dataDir], 20_000);
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
