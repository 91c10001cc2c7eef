import { describe, expect, it } from "vitest";
import { formatFigures, runKillLoop } from "@fleetplane/chaos";

/** A short kill -9 loop (`pnpm chaos kill --rounds 3 --seed 15` replays it; the long run is 20 rounds). */
describe("chaos kill -9 loop, short run", () => {
  it("3 rounds of kill -9 with 500 agents and configs set during the kills: no acknowledged config lost or undelivered, no audit record stuck, no agent given a new UID", async () => {
    const report = await runKillLoop({ seed: 15, rounds: 3, agents: 500, configsPerRound: 25, settleMs: 30_000 });
    console.log(formatFigures("chaos kill (npm test)", report));
    expect(report.configsAcknowledged).toBeGreaterThan(0);
    expect(report.acknowledgedLost).toBe(0);
    // Clean restarts (issue 15 item 3): the connections of the killed process
    // are not taken for live ones, so no reconnecting agent is told its UID is
    // a duplicate, and every audit record settles once its agent applies.
    expect(report.uidReassignments).toBe(0);
    expect(report.acknowledgedNotDelivered).toBe(0);
    expect(report.auditRecordsStuck).toBe(0);
  }, 300_000);

  it("counts acknowledged configs as lost when a restart loses the store (injected fault)", async () => {
    const report = await runKillLoop({ seed: 15, rounds: 1, agents: 100, configsPerRound: 20, settleMs: 5_000, injectStoreLoss: true });
    console.log(formatFigures("chaos kill with an injected store loss", report));
    expect(report.configsAcknowledged).toBeGreaterThan(0);
    expect(report.acknowledgedLost).toBe(report.configsAcknowledged);
  }, 120_000);
});
