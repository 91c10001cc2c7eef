import { describe, it } from "vitest";
import { rolloutsE2eSuite } from "./suites/rollouts/index.js";
import { interruptedRolloutFinishes } from "./suites/rollouts/interrupted.js";
import { startTestServer } from "./support/standalone-server.js";

rolloutsE2eSuite(() => startTestServer(), { size: 200 });

describe("a standalone rollout across a restart", () => {
  it("resumes where it was: the stages decided before stand, the rest follow", async () => {
    const first = await startTestServer();
    let second: Awaited<ReturnType<typeof startTestServer>> | undefined;
    try {
      await interruptedRolloutFinishes(first, 20, async () => {
        await first.close();
        second = await startTestServer({ dataDir: first.dataDir });
        return { rollouts: second.rollouts, wsUrl: second.wsUrl };
      });
    } finally {
      await second?.close();
    }
  }, 180_000);
});
