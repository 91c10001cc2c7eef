// The web console in a real headless Chromium (Debian's chromium, driven by
// playwright-core) against a standalone server with simulated agents
// connected. Screenshots of each step go to test/artifacts/console/, which
// CI keeps as artifacts.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigSource, RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import { Fleet } from "@fleetplane/simulator";
import { eventually } from "./support/eventually.js";
import { WsAgent, description } from "./support/simulated-agent.js";
import { startTestServer } from "./support/standalone-server.js";

const CHROMIUM = process.env.FLEETPLANE_CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = join(import.meta.dirname, "artifacts", "console");
const SIM_AGENTS = 22; // with the legacy agents, fewer than one default page (25)
const LEGACY_AGENTS = 2; // connect, describe themselves, and leave: disconnected
const UI_TIMEOUT_MS = 15_000;

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  // Loud on purpose: a skipped browser test must never pass for a green one.
  console.warn(
    `\n*** SKIPPING the web console browser tests: no Chromium at ${CHROMIUM}. ` +
      `Run 'bash scripts/ensure-chromium.sh' as root (apt-get install chromium), or set FLEETPLANE_CHROMIUM. ***\n`,
  );
}

describe("the admin port without a browser", () => {
  it("serves the console page and its bundle, and still answers probes, metrics and RPCs", async () => {
    const t = await startTestServer();
    try {
      const page = await fetch(`${t.apiUrl}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toContain("text/html");
      expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
      expect(await page.text()).toContain('src="/assets/app.js"');
      const js = await fetch(`${t.apiUrl}/assets/app.js`);
      expect(js.status).toBe(200);
      expect((await js.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
      const again = await fetch(`${t.apiUrl}/assets/app.js`, { headers: { "if-none-match": js.headers.get("etag")! } });
      expect(again.status).toBe(304);
      expect((await fetch(`${t.apiUrl}/assets/nope.js`)).status).toBe(404);
      expect(await (await fetch(`${t.apiUrl}/healthz`)).text()).toBe("ok\n");
      expect((await fetch(`${t.apiUrl}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${t.apiUrl}/metrics`)).text()).toContain("# TYPE");
      expect((await t.agents.getFleetSummary({})).summary?.total).toBe(0n);
    } finally {
      await t.close();
    }
  });

  it("serves no console when it is turned off", async () => {
    const t = await startTestServer({ console: false });
    try {
      expect((await fetch(`${t.apiUrl}/`)).status).toBe(404);
      expect((await fetch(`${t.apiUrl}/assets/app.js`)).status).toBe(404);
      expect((await fetch(`${t.apiUrl}/healthz`)).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe.skipIf(!haveChromium)("the web console in Chromium", () => {
  let t: Awaited<ReturnType<typeof startTestServer>>;
  let fleet: Fleet;
  let browser: Browser;
  let page: Page;
  /** An operator's key (the audit names it key:console-test) and a viewer's. */
  let operatorKey: string;
  let viewerKey: string;
  const configsReceived = new Map<string, string[]>();
  const browserErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    t = await startTestServer();
    fleet = new Fleet({
      url: t.wsUrl,
      agents: SIM_AGENTS,
      transport: "ws",
      intervalMs: 2_000,
      jitter: 0.1,
      closedLoop: false,
      gzip: false,
      failMarker: "sim:fail",
      rampPerSecond: 0,
      ...(t.agentToken ? { token: t.agentToken } : {}),
      onRemoteConfig: (agent, config) => configsReceived.set(agent.uidHex, [...(configsReceived.get(agent.uidHex) ?? []), config]),
    });
    await fleet.start();
    await fleet.whenFirstReplies(SIM_AGENTS, 20_000);
    for (let i = 0; i < LEGACY_AGENTS; i++) {
      const legacy = await WsAgent.connect(t.wsUrl);
      legacy.send({ agentDescription: description("legacy-agent") as never });
      await eventually(() => legacy.received[0], 5_000, "the legacy agent's first reply");
      await legacy.close();
    }
    await eventually(async () => {
      const s = (await t.agents.getFleetSummary({})).summary!;
      return s.total === BigInt(SIM_AGENTS + LEGACY_AGENTS) && s.connected === BigInt(SIM_AGENTS) && s.healthy === BigInt(SIM_AGENTS);
    }, 10_000, "the fleet stored as the test set it up");

    operatorKey = (await t.access.createApiKey({ name: "console-test", role: "operator" })).secret;
    viewerKey = (await t.access.createApiKey({ name: "console-viewer", role: "viewer" })).secret;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on("pageerror", (err) => browserErrors.push(err.message));
    page.on("console", (msg) => msg.type() === "error" && browserErrors.push(msg.text()));
    page.setDefaultTimeout(UI_TIMEOUT_MS);
  });

  afterAll(async () => {
    await browser?.close();
    fleet?.stop();
    await t?.close();
  });

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  /** Opens the console afresh on a page (a hash change alone would keep the last page's state). */
  const go = async (hash: string) => {
    await page.goto("about:blank");
    await page.goto(`${t.apiUrl}/${hash}`);
    await page.getByTestId("live-state").filter({ hasText: "live" }).waitFor();
  };
  const rowCount = () => page.getByTestId("agent-row").count();
  const rowUids = async () => (await page.getByTestId("agent-row").locator("td:first-child").allTextContents()).map((s) => s.trim());
  /** Waits until the table shows `n` rows (the list loads asynchronously). */
  const expectRows = async (n: number) => {
    let seen = -1;
    await eventually(async () => (seen = await rowCount()) === n, UI_TIMEOUT_MS, `${n} agent rows`).catch(async (err: Error) => {
      // Say what the page showed instead: the rows and the filter in the URL.
      throw new Error(`${err.message}; the table had ${seen} at ${new URL(page.url()).hash}`);
    });
  };

  /** Signs in on the sign-in page with `key` (the page must be showing it). */
  const signIn = async (key: string) => {
    await page.getByTestId("sign-in-key").fill(key);
    await page.getByTestId("sign-in-submit").click();
  };

  it("shows only the sign-in page without a key, refuses a wrong key, and opens with a valid one", async () => {
    await page.goto(`${t.apiUrl}/#/agents`);
    await page.getByTestId("sign-in").waitFor();
    expect(await page.locator("nav").count()).toBe(0);
    expect(await page.getByTestId("agent-row").count()).toBe(0);
    await shot("00-sign-in");
    await signIn(`fpk_${"0".repeat(16)}_${"A".repeat(43)}`);
    await expect.poll(() => page.getByTestId("sign-in-problem").textContent()).toContain("unknown API key");
    // Chromium logs the refused WhoAmI (401) as an error; that one is expected.
    const expected = browserErrors.findIndex((e) => e.includes("status of 401"));
    expect(expected).toBeGreaterThanOrEqual(0);
    browserErrors.splice(expected, 1);
    await signIn(operatorKey);
    await page.getByTestId("live-state").filter({ hasText: "live" }).waitFor();
    expect(await page.getByTestId("signed-in-as").innerText()).toContain("key:console-test");
    // The key stays in this tab's sessionStorage, so a reload stays signed in.
    await page.reload();
    await page.getByTestId("live-state").filter({ hasText: "live" }).waitFor();
  });

  it("shows fleet counts that match the fleet", async () => {
    await go("#/");
    const count = (id: string) => page.getByTestId(id).locator(".count");
    await expect.poll(() => count("count-total").textContent(), { timeout: UI_TIMEOUT_MS }).toBe(String(SIM_AGENTS + LEGACY_AGENTS));
    expect(await count("count-connected").textContent()).toBe(String(SIM_AGENTS));
    expect(await count("count-disconnected").textContent()).toBe(String(LEGACY_AGENTS));
    expect(await count("count-healthy").textContent()).toBe(String(SIM_AGENTS));
    expect(await count("count-unhealthy").textContent()).toBe(String(LEGACY_AGENTS));
    expect(await count("count-config-UNSET").textContent()).toBe(String(SIM_AGENTS + LEGACY_AGENTS));

    // Types and versions as the simulator makes them (every tenth agent runs an older version).
    const older = Array.from({ length: SIM_AGENTS }, (_, i) => i).filter((i) => i % 10 === 0).length;
    const types = await page.getByTestId("agent-types").locator("tbody tr").allInnerTexts();
    expect(types.map((r) => r.split("\t").map((c) => c.trim()))).toEqual([
      ["otelcol-sim", "0.120.0", String(SIM_AGENTS - older)],
      ["otelcol-sim", "0.119.0", String(older)],
      ["legacy-agent", "none", String(LEGACY_AGENTS)],
    ]);
    await shot("01-overview");
  });

  it("filters the agent list by an attribute and by connected status", async () => {
    await go("#/agents");
    await expectRows(SIM_AGENTS + LEGACY_AGENTS);

    const staging = (await t.agents.listAgents({ pageSize: 100, filter: { attributes: { "deployment.environment": "staging" } } })).agents;
    expect(staging.length).toBeGreaterThan(0);
    await page.getByTestId("filter-attributes").fill("deployment.environment=staging");
    await page.getByTestId("filter-apply").click();
    await expectRows(staging.length);
    expect((await rowUids()).sort()).toEqual(staging.map((a) => instanceUidToHex(a.metadata!.instanceUid)).sort());
    await shot("02-agents-filtered-by-attribute");

    await page.getByTestId("filter-attributes").fill("");
    await page.getByTestId("filter-apply").click();
    await page.getByTestId("filter-connected").selectOption("false");
    await expectRows(LEGACY_AGENTS);
    expect(await page.getByTestId("agent-table").innerText()).toContain("legacy-agent");
    await shot("03-agents-disconnected");

    await page.getByTestId("filter-attributes").fill("not a pair");
    await page.getByTestId("filter-apply").click();
    await expect.poll(() => page.getByRole("alert").first().textContent()).toContain('"not a pair" is not key=value');
  });

  it("keeps a filter just applied when another is chosen before the page has followed the first", async () => {
    await go("#/agents");
    await expectRows(SIM_AGENTS + LEGACY_AGENTS);
    const filter = { attributes: { "deployment.environment": "staging" }, connected: true };
    const expected = (await t.agents.listAgents({ pageSize: 100, filter })).agents;
    expect(expected.length).toBeGreaterThan(0);
    // The attribute filter applied and "connected" chosen in one task of
    // the page: the `hashchange` of the first (a task of its own) cannot
    // re-render the form before the second, as on a busy browser. Only
    // microtasks run between them (Preact's render of the typed text).
    // (A string: this file is type-checked without the DOM's types.)
    await page.evaluate(`(async () => {
      const input = document.querySelector('[data-testid="filter-attributes"]');
      input.value = "deployment.environment=staging";
      input.dispatchEvent(new Event("input", { bubbles: true }));
      for (let i = 0; i < 10; i++) await Promise.resolve();
      document.querySelector('[data-testid="filter-apply"]').click();
      const connected = document.querySelector('[data-testid="filter-connected"]');
      connected.value = "true";
      connected.dispatchEvent(new Event("change", { bubbles: true }));
    })()`);
    await expectRows(expected.length);
    const hash = decodeURIComponent(new URL(page.url()).hash);
    expect(hash).toContain("connected=true");
    expect(hash).toContain("attr=deployment.environment=staging");
    expect((await rowUids()).sort()).toEqual(expected.map((a) => instanceUidToHex(a.metadata!.instanceUid)).sort());
  });

  it("pages through the agent list", async () => {
    await go("#/agents");
    await page.getByTestId("page-size").selectOption("10");
    await expectRows(10);
    const seen = new Set(await rowUids());
    await page.getByTestId("page-next").click();
    await eventually(async () => (await page.getByTestId("page-number").textContent()) === "page 2" && (await rowCount()) === 10 && !(await rowUids()).some((u) => seen.has(u)));
    for (const u of await rowUids()) seen.add(u);
    await page.getByTestId("page-next").click();
    await expectRows(SIM_AGENTS + LEGACY_AGENTS - 20);
    for (const u of await rowUids()) seen.add(u);
    expect(seen.size).toBe(SIM_AGENTS + LEGACY_AGENTS);
    expect(await page.getByTestId("page-next").isDisabled()).toBe(true);
    await shot("04-agents-last-page");
    await page.getByTestId("page-prev").click();
    await eventually(async () => (await page.getByTestId("page-number").textContent()) === "page 2" && (await rowCount()) === 10);
  });

  describe("one agent", () => {
    let uid: string;

    it("shows its description, capabilities, health tree and effective config", async () => {
      await go("#/agents?attr=service.name%3Dotelcol-sim");
      await expectRows(SIM_AGENTS);
      uid = (await rowUids())[0]!;
      await page.getByRole("link", { name: uid }).click();
      await page.getByTestId("health-tree").waitFor();
      expect(page.url()).toContain(`#/agents/${uid}`);
      expect(await page.getByTestId("identifying-attributes").innerText()).toContain("otelcol-sim");
      expect(await page.getByTestId("capabilities").innerText()).toContain("AcceptsRestartCommand");
      expect(await page.getByTestId("health-tree").innerText()).toContain("pipeline:traces");
      expect(await page.getByTestId("effective-config").innerText()).toContain("receivers:");
      expect(await page.getByTestId("connection").innerText()).toContain("WEBSOCKET");
      expect(await page.getByTestId("remote-config").innerText()).toContain("none assigned");
      await shot("05-agent-detail");
    });

    it("shows YAML errors with their position and sends nothing while they remain", async () => {
      await page.getByTestId("config-editor").fill("receivers:\n  otlp: [grpc\nexporters: {debug: {}\n");
      const errors = page.getByTestId("yaml-errors");
      await errors.waitFor();
      expect(await errors.innerText()).toMatch(/line \d+, column \d+: /);
      await page.getByTestId("config-push").click();
      expect(await page.getByTestId("config-outcome").innerText()).toContain("Not pushed");
      await shot("06-invalid-yaml");
      // Nothing reached the server: no config assigned, nothing audited, nothing received.
      expect((await t.agents.getAgent({ instanceUid: uid })).agent?.spec?.remoteConfig?.data).toBeUndefined();
      expect((await t.commands.listCommands({ instanceUid: uid })).commands).toEqual([]);
      expect(configsReceived.get(uid)).toBeUndefined();
    });

    it("pushes valid YAML, which the agent receives and applies, shown live as APPLIED", async () => {
      const config = "receivers:\n  otlp:\n    protocols:\n      http: {}\nexporters:\n  debug: {}\n# pushed from the console test\n";
      await page.getByTestId("config-editor").fill(config);
      await page.getByTestId("yaml-ok").waitFor();
      await page.getByTestId("config-push").click();
      await expect.poll(() => page.getByTestId("config-outcome").innerText(), { timeout: UI_TIMEOUT_MS }).toContain("Pushed to the agent");
      await eventually(() => configsReceived.get(uid)?.includes(config), UI_TIMEOUT_MS, "the simulated agent receiving the config");
      // No reload: the watch stream brings the agent's APPLIED report.
      await expect.poll(() => page.getByTestId("remote-config").innerText(), { timeout: UI_TIMEOUT_MS }).toMatch(/state\s+APPLIED/);
      expect(await page.getByTestId("remote-config").innerText()).toContain("console-test");
      expect((await t.agents.getAgent({ instanceUid: uid })).agent?.spec?.remoteConfig?.data?.status).toBe(RemoteConfigState.APPLIED);
      await expect.poll(() => page.getByTestId("effective-config").innerText(), { timeout: UI_TIMEOUT_MS }).toContain("pushed from the console test");
      await shot("07-config-applied");
    });

    it("sends a restart the agent receives", async () => {
      const before = fleet.stats.restarts;
      await page.getByTestId("restart").click();
      await expect.poll(() => page.getByTestId("restart-outcome").innerText(), { timeout: UI_TIMEOUT_MS }).toContain("Restart sent");
      await eventually(() => fleet.stats.restarts > before, UI_TIMEOUT_MS, "the simulated agent restarting");
      await expect.poll(() => page.getByTestId("command-history").innerText(), { timeout: UI_TIMEOUT_MS }).toContain("restart");
      await shot("08-restart-sent");
    });

    it("lists the config push and the restart in the audit log", async () => {
      await go("#/audit");
      const rows = page.getByTestId("audit-row");
      await rows.first().waitFor();
      const texts = await rows.allInnerTexts();
      const mine = texts.filter((r) => r.includes(uid.slice(0, 12)));
      expect(mine).toHaveLength(2); // newest first
      expect(mine[0]).toMatch(/restart[\s\S]*console-test/);
      expect(mine[1]).toMatch(/remote_config[\s\S]*APPLIED[\s\S]*console-test/);
      await shot("09-audit-log");
    });
  });

  it("updates the overview live when agents change", async () => {
    await go("#/");
    const connected = page.getByTestId("count-connected").locator(".count");
    await expect.poll(() => connected.textContent(), { timeout: UI_TIMEOUT_MS }).toBe(String(SIM_AGENTS));
    const leaving = fleet.agents.slice(0, 3);
    for (const a of leaving) a.stop();
    await expect.poll(() => connected.textContent(), { timeout: UI_TIMEOUT_MS }).toBe(String(SIM_AGENTS - leaving.length));
    await shot("10-overview-live");
  });

  describe("fleet configuration", () => {
    const group = "console-staging";
    const configuration = "console-collector";

    it("shows groups with their status counts, as the API counts them", async () => {
      await t.configurations.createConfiguration({ name: configuration, description: "staging collectors", files: { "": { body: new TextEncoder().encode("receivers:\n  otlp: {}\nexporters:\n  debug: {}\n"), contentType: "text/yaml" } }, message: "first" });
      await t.configurations.createConfigurationVersion({ name: configuration, files: { "": { body: new TextEncoder().encode("receivers:\n  otlp: {}\nexporters:\n  debug:\n    verbosity: detailed\n"), contentType: "text/yaml" } }, message: "more detail" });
      await t.groups.createGroup({ group: { name: group, priority: 5, configuration, configurationVersion: 2, selector: { matchLabels: { "deployment.environment": "staging" } } } });
      const staging = (await t.agents.listAgents({ pageSize: 100, filter: { attributes: { "deployment.environment": "staging" } } })).agents;
      // The simulated agents apply what they get: wait until every connected one assigned to the group says so.
      const status = await eventually(async () => {
        const s = (await t.groups.getGroup({ name: group })).status!;
        return s.applied > 0n && s.applied === s.connected && s.applying === 0n ? s : undefined;
      }, UI_TIMEOUT_MS, "the group's connected agents APPLIED");
      expect(status.matched).toBe(BigInt(staging.length));

      await go("#/groups");
      const row = page.getByTestId("group-row").filter({ hasText: group });
      await row.waitFor();
      for (const c of ["matched", "assigned", "connected", "applied", "failed"] as const) {
        await expect.poll(() => row.getByTestId(`group-${c}`).textContent(), { timeout: UI_TIMEOUT_MS }).toBe(String(status[c]));
      }
      expect(await row.innerText()).toContain("deployment.environment=staging");
      await shot("11-groups");
    });

    it("shows a configuration's versions and the diff between two of them", async () => {
      await go("#/configurations");
      await page.getByRole("link", { name: configuration }).click();
      await page.getByTestId("diff-file").first().waitFor();
      expect(await page.getByTestId("version-row").count()).toBe(2);
      expect(await page.getByTestId("version-table").innerText()).toContain("more detail");
      const diff = page.getByTestId("diff");
      expect(await diff.locator(".diff-add").allInnerTexts()).toEqual(["+   debug:", "+     verbosity: detailed"]);
      expect(await diff.locator(".diff-del").allInnerTexts()).toEqual(["-   debug: {}"]);
      await shot("12-configuration-diff");
      // Picking the same version on both sides shows no changes.
      await page.getByTestId("diff-from").selectOption("2");
      await expect.poll(() => diff.locator(".diff-add, .diff-del").count(), { timeout: UI_TIMEOUT_MS }).toBe(0);
      // Both sides picked in one task of the page (as a busy browser may run the two picks before the
      // `hashchange` of the first re-renders it): the second pick keeps the first (v1 against v1, not v2).
      await page.evaluate(`(() => {
        const pick = (id, value) => {
          const select = document.querySelector('[data-testid="' + id + '"]');
          select.value = value;
          select.dispatchEvent(new Event("change", { bubbles: true }));
        };
        pick("diff-from", "1");
        pick("diff-to", "1");
      })()`);
      const hash = String(await page.evaluate("location.hash"));
      expect(hash).toContain("from=1");
      expect(hash).toContain("to=1");
      await expect.poll(() => page.getByTestId("diff-from").inputValue(), { timeout: UI_TIMEOUT_MS }).toBe("1");
      expect(await page.getByTestId("diff-to").inputValue()).toBe("1");
    });

    it("shows an agent's group, configuration version and why", async () => {
      const agent = (await t.agents.listAgents({ pageSize: 100, filter: { connected: true, attributes: { "deployment.environment": "staging" } } })).agents.find(
        (a) => a.spec?.assignment?.group === group && a.spec.assignment.source === ConfigSource.GROUP,
      )!;
      await go(`#/agents/${instanceUidToHex(agent.metadata!.instanceUid)}`);
      const rows = page.getByTestId("assignment");
      await expect.poll(() => rows.innerText(), { timeout: UI_TIMEOUT_MS }).toMatch(new RegExp(`why\\s+group ${group}`));
      expect(await rows.innerText()).toMatch(new RegExp(`configuration\\s+${configuration} v2`));
      await shot("13-agent-assignment");
    });
  });

  it("hides from a viewer what a viewer may not do, and shows it no configuration bodies", async () => {
    await go("#/");
    await page.getByTestId("sign-out").click();
    await page.getByTestId("sign-in").waitFor();
    await signIn(viewerKey);
    await page.getByTestId("live-state").filter({ hasText: "live" }).waitFor();
    const uid = fleet.agents[5]!.uidHex;
    await page.goto(`${t.apiUrl}/#/agents/${uid}`);
    await page.getByTestId("health-tree").waitFor();
    expect(await page.getByTestId("signed-in-as").innerText()).toContain("key:console-viewer");
    expect(await page.getByTestId("config-editor").count()).toBe(0);
    expect(await page.getByTestId("restart").count()).toBe(0);
    await page.getByTestId("effective-config-hidden").waitFor();
    await shot("14-viewer");
  });

  it("ran without errors in the browser", () => {
    expect(browserErrors).toEqual([]);
  });
});
