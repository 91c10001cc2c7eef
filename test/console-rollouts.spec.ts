// The console's Rollouts page in a real headless Chromium (Debian's
// chromium, driven by playwright-core) against a standalone server with
// simulated collectors. Screenshots go to test/artifacts/console/.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RolloutState } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { agentsStage, gate, groupWithAgents, isIn, percentStage, rolloutWhen } from "./suites/rollouts/rollout-fixtures.js";
import type { RolloutFleet } from "./suites/rollouts/rollout-fleet.js";
import { startTestServer } from "./support/standalone-server.js";

const CHROMIUM = process.env.FLEETPLANE_CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = join(import.meta.dirname, "artifacts", "console");
const UI_TIMEOUT_MS = 20_000;

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  // Loud on purpose: a skipped browser test must never pass for a green one.
  console.warn(`\n*** SKIPPING the console rollouts browser test: no Chromium at ${CHROMIUM}. Run 'bash scripts/ensure-chromium.sh' as root, or set FLEETPLANE_CHROMIUM. ***\n`);
}

describe.skipIf(!haveChromium)("the console's Rollouts page in Chromium", () => {
  let t: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  let context: BrowserContext | undefined;
  let page: Page;
  let operatorKey: string;
  let viewerKey: string;
  const fleets: RolloutFleet[] = [];
  const browserErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    t = await startTestServer();
    operatorKey = (await t.access.createApiKey({ name: "rollout-operator", role: "operator" })).secret;
    viewerKey = (await t.access.createApiKey({ name: "rollout-viewer", role: "viewer" })).secret;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await Promise.all(fleets.map((f) => f.close()));
    await t?.close();
  });

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  /**
   * Signs in afresh with `key` and opens the rollouts page of `group`. Each
   * sign-in gets its own browser context: clearing sessionStorage in a page
   * that is still signed in raced its own in-flight calls, which then went
   * out without a key and were refused (a 401 in the browser's console).
   */
  const openAs = async (key: string, group: string) => {
    await context?.close();
    context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    page = await context.newPage();
    page.on("pageerror", (err) => browserErrors.push(err.message));
    page.on("console", (msg) => msg.type() === "error" && browserErrors.push(msg.text()));
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    await page.goto(`${t.apiUrl}/`);
    await page.getByTestId("sign-in-key").fill(key);
    await page.getByTestId("sign-in-submit").click();
    await page.getByTestId("live-state").filter({ hasText: "live" }).waitFor();
    await page.goto(`${t.apiUrl}/#/rollouts?group=${encodeURIComponent(group)}`);
    await page.getByTestId("rollouts-live").filter({ hasText: "live" }).waitFor();
  };
  const card = (id: string) => page.locator(`[data-testid="rollout"][data-rollout-id="${id}"]`);
  const stateOf = (id: string) => card(id).getByTestId("rollout-state").innerText();

  it("shows a failing canary live: the stage failed, the agent and why, the rollout paused with the reason", async () => {
    const { group, fleet } = await groupWithAgents(t, {
      prefix: "ui-fail",
      count: 3,
      answer: (_uid, body) => (body === "v2\n" ? { applied: false, error: "exporter otlp: endpoint missing" } : { applied: true }),
    });
    fleets.push(fleet);
    await openAs(operatorKey, group);
    // Started after the page opened: everything the page shows came down the watch stream.
    const { rollout } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [agentsStage(1), percentStage(100)], gate: gate({ bakeMs: 0 }) });
    const id = rollout!.id;
    await expect.poll(() => stateOf(id), { timeout: UI_TIMEOUT_MS }).toBe("paused");
    const failure = card(id).getByTestId("stage-failure");
    await expect.poll(() => failure.innerText(), { timeout: UI_TIMEOUT_MS }).toBe(`${fleet.uids[0]} failed: exporter otlp: endpoint missing`);
    expect(await card(id).getByTestId("stage-state").allInnerTexts()).toEqual(["failed", "pending"]);
    expect(await card(id).getByTestId("stage-failed").first().innerText()).toBe("1");
    expect(await card(id).getByTestId("rollout-reason").innerText()).toMatch(/.+/);
    await shot("20-rollout-failed-canary");

    // Roll back from the page: the canary gets v1 again, the page follows to "rolled back".
    await card(id).getByTestId("rollout-rollback").click();
    await expect.poll(() => stateOf(id), { timeout: UI_TIMEOUT_MS }).toBe("rolled back");
    expect(await card(id).getByTestId("rollout-pause").count()).toBe(0);
    expect(await card(id).getByTestId("rollout-rollback").count()).toBe(0);
    await rolloutWhen(t.rollouts, id, isIn(RolloutState.ROLLED_BACK), "rolled back (API)");
    expect(fleet.bodies(fleet.uids[0]!)).toEqual(["v1\n", "v2\n", "v1\n"]);
  }, 120_000);

  it("follows a rollout stage by stage; pause and resume from the page are decisions the API records", async () => {
    const { group, fleet } = await groupWithAgents(t, { prefix: "ui-pass", count: 4 });
    fleets.push(fleet);
    await openAs(operatorKey, group);
    // A long bake holds the canary's stage while the buttons are used.
    const { rollout } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [agentsStage(1), percentStage(100)], gate: gate({ bakeMs: 600_000 }) });
    const id = rollout!.id;
    await expect.poll(() => card(id).getByTestId("stage-state").first().innerText(), { timeout: UI_TIMEOUT_MS }).toBe("baking");
    expect(await card(id).getByTestId("stage-applied").first().innerText()).toBe("1");
    expect(await card(id).getByTestId("stage-progress").first().getAttribute("value")).toBe("1");
    await shot("21-rollout-baking");

    await card(id).getByTestId("rollout-pause").click();
    await expect.poll(() => stateOf(id), { timeout: UI_TIMEOUT_MS }).toBe("paused");
    expect((await t.rollouts.getRollout({ id })).rollout!.state).toBe(RolloutState.PAUSED);
    expect(await card(id).getByTestId("rollout-pause").count()).toBe(0);
    await card(id).getByTestId("rollout-resume").click();
    await expect.poll(() => stateOf(id), { timeout: UI_TIMEOUT_MS }).toBe("running");

    // Finish it quickly: abort this one, and a short-bake rollout to v2 passes every stage on the page.
    await card(id).getByTestId("rollout-abort").click();
    await expect.poll(() => stateOf(id), { timeout: UI_TIMEOUT_MS }).toBe("aborted");
    const { rollout: next } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [agentsStage(1), percentStage(50), percentStage(100)], gate: gate({ bakeMs: 100 }) });
    await expect.poll(() => stateOf(next!.id), { timeout: 60_000 }).toBe("succeeded");
    expect(await card(next!.id).getByTestId("stage-state").allInnerTexts()).toEqual(["passed", "passed", "passed"]);
    // Newest first.
    expect(await page.getByTestId("rollout").first().getAttribute("data-rollout-id")).toBe(next!.id);
    await shot("22-rollouts-succeeded");
  }, 120_000);

  it("shows a viewer a running rollout without a single button", async () => {
    const { group, fleet } = await groupWithAgents(t, { prefix: "ui-view", count: 2 });
    fleets.push(fleet);
    const { rollout } = await t.rollouts.startRollout({ group, toVersion: 2, stages: [agentsStage(1), percentStage(100)], gate: gate({ bakeMs: 600_000 }) });
    try {
      await openAs(viewerKey, group);
      expect(await page.getByTestId("signed-in-as").innerText()).toContain("key:rollout-viewer");
      await expect.poll(() => card(rollout!.id).getByTestId("stage-state").first().innerText(), { timeout: UI_TIMEOUT_MS }).toBe("baking");
      expect(await stateOf(rollout!.id)).toBe("running");
      expect(await page.locator('[data-testid="rollout-pause"], [data-testid="rollout-resume"], [data-testid="rollout-abort"], [data-testid="rollout-rollback"]').count()).toBe(0);
      await shot("23-rollouts-viewer");
    } finally {
      await t.rollouts.abortRollout({ id: rollout!.id });
    }
  }, 60_000);

  it("ran without errors in the browser", () => {
    expect(browserErrors).toEqual([]);
  });
});
