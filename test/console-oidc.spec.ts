// The console's OIDC sign-in in a real Chromium against a real OIDC provider
// running here (the `oidc-provider` package, with its development login
// pages): authorization code with PKCE, the code exchanged in the browser,
// the ID token kept in the tab like an API key, the console showing what the
// role allows, and the console sent back to sign-in when the token expires
// (the server ends its WatchAgents stream then).
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import Provider from "oidc-provider";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceUidToHex } from "@fleetplane/platform";
import { eventually } from "./support/eventually.js";
import { WsAgent, description } from "./support/simulated-agent.js";
import { startTestServer } from "./support/standalone-server.js";

const CHROMIUM = process.env.FLEETPLANE_CHROMIUM ?? "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`\n*** SKIPPING the console OIDC browser tests: no Chromium at ${CHROMIUM}. Run 'bash scripts/ensure-chromium.sh' as root. ***\n`);

const CLIENT_ID = "fleetplane-console";
const UI_TIMEOUT_MS = 15_000;
/** Test users: their roles claim, and how long their ID tokens last. */
const USERS: Record<string, { roles: string[]; idTokenSeconds: number }> = {
  alice: { roles: ["operator"], idTokenSeconds: 3600 },
  victor: { roles: ["viewer"], idTokenSeconds: 3600 },
  brief: { roles: ["viewer"], idTokenSeconds: 6 },
};

describe.skipIf(!haveChromium)("console sign-in with OIDC (authorization code + PKCE) in Chromium", () => {
  let idp: Server;
  let issuer: string;
  let t: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  let agent: WsAgent;
  const browserErrors: string[] = [];

  beforeAll(async () => {
    // The provider's address must be known before it is made (it is the issuer), and the console's before its client is.
    let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
    idp = createServer((req, res) => handle(req, res));
    await new Promise<void>((r) => idp.listen(0, "127.0.0.1", () => r()));
    issuer = `http://127.0.0.1:${(idp.address() as { port: number }).port}`;
    t = await startTestServer({
      oidc: { issuer, audience: ["fleetplane-admin", CLIENT_ID], clockSkewSeconds: 0 },
      consoleOidc: { issuer, clientId: CLIENT_ID, scopes: "openid roles", token: "id" },
    });
    const provider = new Provider(issuer, {
      clients: [{ client_id: CLIENT_ID, token_endpoint_auth_method: "none", redirect_uris: [`${t.apiUrl}/`], grant_types: ["authorization_code"], response_types: ["code"] }],
      pkce: { methods: ["S256"], required: () => true },
      features: { devInteractions: { enabled: true } },
      claims: { openid: ["sub"], roles: ["roles"] },
      conformIdTokenClaims: false,
      findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id, roles: USERS[id]?.roles ?? [] }) }),
      // The console exchanges the code from its own origin.
      clientBasedCORS: (_ctx: unknown, origin: string) => origin === t.apiUrl,
      // The ID token's claims are on `available`; "brief"'s last seconds only.
      ttl: {
        IdToken: (_ctx: unknown, token: { available?: { sub?: string } }) => USERS[token.available?.sub ?? ""]?.idTokenSeconds ?? 60,
        AccessToken: 3600,
        Grant: 3600,
        Interaction: 600,
        Session: 3600,
      },
      cookies: { keys: ["fleetplane-test-cookie-key"] },
    });
    provider.on("server_error", (_ctx: unknown, err: unknown) => browserErrors.push(`provider: ${String(err)}`));
    handle = provider.callback();
    agent = await WsAgent.connect(t.wsUrl);
    agent.send({ agentDescription: description("oidc-console") as never });
    await eventually(() => agent.received[0]);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.close();
    await t?.close();
    idp?.close();
  });

  /** A fresh browser profile (no provider session), watching for errors. */
  const newPage = async (): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on("pageerror", (err) => browserErrors.push(err.message));
    return { context, page };
  };

  /** From the console's sign-in page through the provider's login and consent pages, back to the console. */
  const signInAs = async (page: Page, login: string) => {
    await page.goto(`${t.apiUrl}/`);
    await page.getByTestId("sign-in-oidc").click();
    await page.waitForURL((u) => u.origin === issuer);
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill("any");
    await page.locator("button[type=submit]").click();
    await page.locator("button[type=submit]", { hasText: "Continue" }).click(); // consent
    await page.getByTestId("signed-in-as").waitFor();
  };

  it("the page names the issuer's token endpoint in its CSP, and holds no secret", async () => {
    const res = await fetch(`${t.apiUrl}/`);
    expect(res.headers.get("content-security-policy")).toContain(`connect-src 'self' ${issuer};`);
    const settings = (await (await fetch(`${t.apiUrl}/sign-in.json`)).json()) as { oidc: Record<string, string> };
    expect(settings.oidc).toEqual({ issuer, clientId: CLIENT_ID, scopes: "openid roles", token: "id", authorizationEndpoint: `${issuer}/auth`, tokenEndpoint: `${issuer}/token` });
  });

  it("signs an operator in through the provider; the token is kept in the tab, the code leaves the address bar", async () => {
    const { context, page } = await newPage();
    await signInAs(page, "alice");
    expect(await page.getByTestId("signed-in-as").innerText()).toContain("oidc:alice");
    expect(new URL(page.url()).search).toBe("");
    const stored = await page.evaluate<string | null>('sessionStorage.getItem("fleetplane.credential")');
    expect(stored?.split(".")).toHaveLength(3); // a JWT, as the API verifies it
    expect(await page.evaluate<string | null>('sessionStorage.getItem("fleetplane.oidc.pending")')).toBeNull();
    // An operator sees what it may do.
    await page.goto(`${t.apiUrl}/#/agents/${instanceUidToHex(agent.uid)}`);
    await page.getByTestId("restart").waitFor();
    await context.close();
  });

  it("shows a viewer no operations", async () => {
    const { context, page } = await newPage();
    await signInAs(page, "victor");
    expect(await page.getByTestId("signed-in-as").innerText()).toContain("oidc:victor");
    await page.goto(`${t.apiUrl}/#/agents/${instanceUidToHex(agent.uid)}`);
    await page.getByTestId("health-tree").waitFor();
    expect(await page.getByTestId("restart").count()).toBe(0);
    expect(await page.getByTestId("config-editor").count()).toBe(0);
    await context.close();
  });

  it("refuses a return with a state it did not send", async () => {
    const { context, page } = await newPage();
    await page.goto(`${t.apiUrl}/?code=stolen&state=forged`);
    await expect.poll(() => page.getByTestId("sign-in-problem").innerText(), { timeout: UI_TIMEOUT_MS }).toMatch(/unknown state/);
    expect(new URL(page.url()).search).toBe("");
    expect(await page.evaluate<string | null>('sessionStorage.getItem("fleetplane.credential")')).toBeNull();
    await context.close();
  });

  it("goes back to the sign-in page when the ID token expires (the server ends the live stream)", async () => {
    const { context, page } = await newPage();
    await signInAs(page, "brief");
    await page.getByTestId("live-state").filter({ hasText: "live" }).waitFor();
    await page.getByTestId("sign-in").waitFor({ timeout: 20_000 });
    expect(await page.evaluate<string | null>('sessionStorage.getItem("fleetplane.credential")')).toBeNull();
    await context.close();
  }, 40_000);

  it("ran without errors in the browser or the provider", () => {
    expect(browserErrors).toEqual([]);
  });
});
