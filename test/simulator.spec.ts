import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { Fleet } from "@fleetplane/simulator";
import { eventually } from "./support/eventually.js";
import { startTestServer } from "./support/standalone-server.js";

let t: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

describe("the fleet simulator", () => {
  it("brings up agents over both transports, applies pushed configs, fails marked ones, and counts it all", async () => {
    const received: string[] = [];
    const fleet = new Fleet({
      url: t.wsUrl,
      agents: 20,
      transport: "mixed",
      intervalMs: 300,
      jitter: 0.1,
      closedLoop: false,
      gzip: true,
      failMarker: "sim:fail",
      rampPerSecond: 0,
      ...(t.agentToken ? { token: t.agentToken } : {}),
      onRemoteConfig: (_agent, config) => received.push(config),
    });
    try {
      await fleet.start();
      await fleet.whenFirstReplies(20, 15_000);
      const listed = await eventually(async () => {
        const { agents } = await t.agents.listAgents({ pageSize: 100, filter: { connected: true, attributes: { "service.name": "otelcol-sim" } } });
        return agents.length === 20 ? agents : undefined;
      }, 10_000, "20 simulated agents listed");
      expect(listed[0]?.metadata?.description?.nonIdentifyingAttributes.some((kv) => kv.key === "host.name")).toBe(true);
      expect(listed[0]?.status?.health?.healthy).toBe(true);

      const [good, bad] = [fleet.agents[0]!, fleet.agents[1]!]; // one WebSocket, one HTTP agent
      await t.agents.setRemoteConfig({ instanceUid: good.uidHex, files: { "": { content: { case: "text", value: "exporters: {debug: {}}\n" } } } });
      await t.agents.setRemoteConfig({ instanceUid: bad.uidHex, files: { "": { content: { case: "text", value: "sim:fail\n" } } } });
      const state = async (uid: string) => (await t.agents.getAgent({ instanceUid: uid })).agent?.spec?.remoteConfig;
      await eventually(async () => (await state(good.uidHex))?.data?.status === RemoteConfigState.APPLIED, 10_000, "APPLIED");
      await eventually(async () => (await state(bad.uidHex))?.data?.status === RemoteConfigState.FAILED, 10_000, "FAILED");
      expect((await state(bad.uidHex))?.lastErrorMessage).toMatch(/simulated failure/);
      expect(received).toHaveLength(2);

      const s = fleet.snapshot();
      expect(s.configsApplied).toBe(1);
      expect(s.configsFailed).toBe(1);
      expect(s.errorResponses + s.transportErrors).toBe(0);
      expect(s.received).toBeGreaterThanOrEqual(s.firstReplies);
      expect(s.latencyMs.count).toBeGreaterThan(0);
    } finally {
      fleet.stop();
    }
  });

  it("runs as `fleetplane sim`, with progress on stderr and a JSON summary on stdout", async () => {
    const main = join(import.meta.dirname, "..", "services", "fleetplane", "src", "main.ts");
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", main, "sim", "--url", t.httpUrl, "--transport", "http", "--agents", "8", "--interval-seconds", "0.3", "--duration-seconds", "2.5", "--json", ...(t.agentToken ? ["--token", t.agentToken] : [])],
      { timeout: 30_000 },
    );
    const summary = JSON.parse(stdout.trim().split("\n").at(-1)!) as { firstReplies: number; errorResponses: number; transportErrors: number; received: number };
    expect(summary.firstReplies).toBe(8);
    expect(summary.errorResponses + summary.transportErrors).toBe(0);
    expect(summary.received).toBeGreaterThan(8); // polls went on after the first
    expect(stderr).toMatch(/answered 8/);
  });
});
