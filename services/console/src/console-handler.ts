import type { WebHandler } from "@fleetplane/platform-node";
import type * as http from "node:http";
import { buildConsoleBundle, etagOf, type ConsoleAsset } from "./console-bundle.js";
import { CONSOLE_HTML } from "./console-page.js";

type Response = Parameters<WebHandler>[1];

export interface ConsoleHandlerOptions {
  /** Told once about the bundle build (time taken, or why it failed). */
  onBuilt?: (outcome: { ms: number; error?: Error }) => void;
}

// The console talks only to its own origin (Connect over fetch).
const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

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

  return async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const path = (req.url ?? "").split("?")[0] ?? "";
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

    const headers = { ...SECURITY_HEADERS, "content-type": asset.contentType, etag: asset.etag, "cache-control": "no-cache" };
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
