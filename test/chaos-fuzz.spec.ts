import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatFigures, runFuzz, ServerProcess, standaloneCommand } from "@fleetplane/chaos";

/** A short, seeded run of the chaos fuzzer (`pnpm chaos fuzz --seed 20260515 --inputs 3000` replays it; the long run is `--inputs 1000000`). */
const SEED = 20260515;

describe("chaos fuzz, short seeded run", () => {
  it("3,000 malformed inputs over WebSocket and HTTP: the server never dies, never logs an unhandled error, never answers 5xx, and a valid agent keeps its replies under 1 s", async () => {
    const report = await runFuzz({
      seed: SEED,
      inputs: 3_000,
      startServer: () => ServerProcess.start(standaloneCommand(mkdtempSync(join(tmpdir(), "fleetplane-chaos-fuzz-")))),
    });
    console.log(formatFigures("chaos fuzz (npm test)", report));
    expect(report.failure).toBeUndefined();
    expect(report.serverStarts).toBe(1);
    expect(report.inputs).toBeGreaterThan(2_000);
    // Both transports were exercised and the server still talked over WebSocket afterwards.
    expect(Object.keys(report.outcomes).some((k) => k.startsWith("http "))).toBe(true);
    expect(report.wsAnswered).toBeGreaterThan(100);
    expect(report.probe.count).toBeGreaterThan(10);
    expect(report.probe.late).toBe(0);
    expect(report.probe.p99).toBeLessThan(1_000);
  }, 150_000);

  it("catches a server that answers client input with 5xx or dies of an unhandled rejection, and prints a shrunk counterexample", async () => {
    const stub = join(import.meta.dirname, "support", "broken-opamp-server.ts");
    const report = await runFuzz({ seed: SEED, inputs: 400, startServer: () => ServerProcess.start({ args: ["--import", "tsx", stub] }) });
    console.log(formatFigures("chaos fuzz against the broken stub", report));
    expect(report.failure?.message).toMatch(/HTTP 500|exited by itself|lost control/);
    expect(report.failure?.replay).toContain(`seed ${SEED}`);
    // Shrunk to what the stub cannot take (a gzip body or a PUT). A crash shows a moment after
    // its input was answered, so on a busy machine an innocent neighbour may stay in the batch.
    const counterexample = report.failure?.counterexample ?? "";
    expect(counterexample).toMatch(/"contentEncoding":"gzip"|"method":"PUT"/);
    expect(counterexample.match(/"kind":/g)?.length).toBeLessThanOrEqual(2);
  }, 150_000);
});
