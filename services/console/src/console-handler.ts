import type { WebHandler } from "@fleetplane/platform-node";
import type * as http from "node:http";
import { buildConsoleBundle, etagOf, type ConsoleAsset } from "./console-bundle.js";
import { CONSOLE_HTML } from "./console-page.js";
import { discoverOidcSignIn, type ConsoleOidcSettings, type OidcSignIn } from "./oidc-sign-in.js";

type Response = Parameters<WebHandler>[1];

export interface ConsoleHandlerOptions {
  /** Told once about the bundle build (time taken, or why it failed). */
  onBuilt?: (outcome: { ms: number; error?: Error }) => void;
  /** OIDC sign-in (authorization code with PKCE) beside API keys; default: API keys only. */
  oidc?: ConsoleOidcSettings | undefined;
  /** Told when the issuer's discovery document could not be read (the page offers API keys meanwhile). */
  onOidcProblem?: (error: Error) => void;
}

/**
 * The console talks to its own origin (Connect over fetch) and, with OIDC,
 * to the issuer's token endpoint (the code is exchanged in the browser:
 * a public client with PKCE has no secret for a server to keep).
 */
const securityHeaders = (tokenEndpoint: string | undefined) => ({
  "content-security-policy": `default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'${tokenEndpoint ? ` ${new URL(tokenEndpoint).origin}` : ""}; frame-ancestors 'none'; form-action 'self'; base-uri 'none'`,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
});

/** Where the page learns how to sign in (public: no credential needed to read it). */
export const SIGN_IN_PATH = "/sign-in.json";

/**
 * The web console at `/` (and its assets under /assets/). The bundle is built
 * on the first request for it and kept in memory, so servers that nobody
 * opens a browser on pay nothing; a failed build is retried on the next
 * request and answered 500 with the reason meanwhile.
 */
export function createConsoleHandler(o: ConsoleHandlerOptions = {}): WebHandler {
  const page: ConsoleAsset = { contentType: "text/html; charset=utf-8", body: new TextEncoder().encode(CONSOLE_HTML), etag: etagOf(new TextEncoder().encode(CONSOLE_HTML)) };
  let bundle: Promise<Map<string, ConsoleAsset>> | undefined;
  const assets = () => {
    if (!bundle) {
      const started = Date.now();
      bundle = buildConsoleBundle().then(
        (built) => (o.onBuilt?.({ ms: Date.now() - started }), built),
        (err: Error) => {
          bundle = undefined;
          o.onBuilt?.({ ms: Date.now() - started, error: err });
          throw err;
        },
      );
    }
    return bundle;
  };

  // Discovery once it succeeds; a failure is retried on the next page load.
  let oidc: Promise<OidcSignIn> | undefined;
  const signIn = async (): Promise<{ oidc?: OidcSignIn; oidcProblem?: string }> => {
    if (!o.oidc) return {};
    oidc ??= discoverOidcSignIn(o.oidc).catch((err: Error) => {
      oidc = undefined;
      o.onOidcProblem?.(err);
      throw err;
    });
    try {
      return { oidc: await oidc };
    } catch (err) {
      return { oidcProblem: `OIDC sign-in is unavailable: ${(err as Error).message}` };
    }
  };

  return async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (path === SIGN_IN_PATH) {
      const body = JSON.stringify(await signIn());
      send(res, 200, { ...securityHeaders(undefined), "content-type": "application/json", "cache-control": "no-store" }, req.method === "HEAD" ? undefined : body);
      return true;
    }
    let asset: ConsoleAsset | undefined;
    if (path === "/" || path === "/index.html") asset = page;
    else if (path.startsWith("/assets/")) {
      try {
        asset = (await assets()).get(path);
      } catch (err) {
        send(res, 500, { "content-type": "text/plain; charset=utf-8" }, `the console bundle failed to build: ${(err as Error).message}\nsee the server log; fix services/console/src/ui and reload\n`);
        return true;
      }
      if (!asset) return false;
    } else return false;

    const tokenEndpoint = asset === page ? (await signIn()).oidc?.tokenEndpoint : undefined;
    const headers = { ...securityHeaders(tokenEndpoint), "content-type": asset.contentType, etag: asset.etag, "cache-control": "no-cache" };
    if (req.headers["if-none-match"] === asset.etag) send(res, 304, headers);
    else send(res, 200, { ...headers, "content-length": String(asset.body.length) }, req.method === "HEAD" ? undefined : asset.body);
    return true;
  };
}

function send(res: Response, status: number, headers: Record<string, string>, body?: string | Uint8Array): void {
  (res as http.ServerResponse).writeHead(status, headers);
  if (body === undefined) res.end();
  else res.end(body);
}
