import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConsoleHandler, SIGN_IN_PATH } from "./console-handler.js";
import { discoverOidcSignIn, OidcDiscoveryError } from "./oidc-sign-in.js";

let server: Server;
let base: string;
/** What the issuer's discovery document says, per test. */
let document: Record<string, unknown> = {};
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === "/.well-known/openid-configuration") res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(document));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => void server.close());

const settings = () => ({ issuer: base, clientId: "console", scopes: "openid", token: "id" as const });
const good = () => ({ issuer: base, authorization_endpoint: `${base}/auth`, token_endpoint: `https://tokens.example.test/token`, code_challenge_methods_supported: ["S256"] });

describe("OIDC sign-in discovery", () => {
  it("takes the endpoints from the issuer's own document", async () => {
    document = good();
    expect(await discoverOidcSignIn(settings())).toEqual({ ...settings(), authorizationEndpoint: `${base}/auth`, tokenEndpoint: "https://tokens.example.test/token" });
  });

  it("refuses another issuer's document, one without PKCE S256, and one without endpoints", async () => {
    document = { ...good(), issuer: "https://evil.example.test" };
    await expect(discoverOidcSignIn(settings())).rejects.toThrow(/is for issuer https:\/\/evil.example.test/);
    document = { ...good(), code_challenge_methods_supported: ["plain"] };
    await expect(discoverOidcSignIn(settings())).rejects.toThrow(/PKCE with S256/);
    document = { ...good(), token_endpoint: undefined };
    await expect(discoverOidcSignIn(settings())).rejects.toBeInstanceOf(OidcDiscoveryError);
    await expect(discoverOidcSignIn({ ...settings(), issuer: `${base}/nowhere` })).rejects.toThrow(/could not be read/);
  });
});

/** Calls the console handler as the API server would, and returns status, headers and body. */
async function get(handler: ReturnType<typeof createConsoleHandler>, url: string) {
  const out = { status: 0, headers: {} as Record<string, string>, body: "" };
  const res = {
    writeHead: (status: number, headers: Record<string, string>) => Object.assign(out, { status, headers }),
    end: (body?: string | Uint8Array) => (out.body = body === undefined ? "" : Buffer.from(body).toString()),
  };
  const served = await handler({ method: "GET", url, headers: {} } as never, res as never);
  return served ? out : undefined;
}

describe("the console handler's sign-in settings", () => {
  it("without OIDC: API keys only, and the page may connect to its own origin only", async () => {
    const handler = createConsoleHandler();
    expect(JSON.parse((await get(handler, SIGN_IN_PATH))!.body)).toEqual({});
    expect((await get(handler, "/"))!.headers["content-security-policy"]).toContain("connect-src 'self';");
  });

  it("with OIDC: the settings (no secret), and the token endpoint's origin added to connect-src", async () => {
    document = good();
    const problems: Error[] = [];
    const handler = createConsoleHandler({ oidc: settings(), onOidcProblem: (e) => problems.push(e) });
    expect(JSON.parse((await get(handler, SIGN_IN_PATH))!.body).oidc.tokenEndpoint).toBe("https://tokens.example.test/token");
    expect((await get(handler, "/"))!.headers["content-security-policy"]).toContain("connect-src 'self' https://tokens.example.test;");
    expect(problems).toEqual([]);
  });

  it("says why OIDC is unavailable while the issuer cannot be read, and retries on the next load", async () => {
    document = { ...good(), issuer: "https://other.example.test" };
    const problems: Error[] = [];
    const handler = createConsoleHandler({ oidc: settings(), onOidcProblem: (e) => problems.push(e) });
    expect(JSON.parse((await get(handler, SIGN_IN_PATH))!.body).oidcProblem).toMatch(/OIDC sign-in is unavailable/);
    expect((await get(handler, "/"))!.headers["content-security-policy"]).toContain("connect-src 'self';");
    document = good();
    expect(JSON.parse((await get(handler, SIGN_IN_PATH))!.body).oidc.clientId).toBe("console");
    expect(problems.length).toBe(2);
  });
});
