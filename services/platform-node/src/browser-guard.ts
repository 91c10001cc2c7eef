import type * as http from "node:http";
import type * as http2 from "node:http2";

/**
 * What a browser may do on the admin port. A DNS-rebinding page reaches a
 * loopback API under a name of the attacker's: the `Host` it sends is that
 * name, so only the server's own names are answered. A page on another
 * origin may call the API only when its origin is listed (CORS); a "simple"
 * cross-origin POST, which a browser sends without asking first, is refused
 * like any other.
 */
export interface BrowserGuardOptions {
  /** Host names (no port) the server answers to; compared without case. */
  allowedHosts: readonly string[];
  /** Origins (scheme://host[:port]) whose pages may call the API. */
  allowedOrigins: readonly string[];
}

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

const ALLOWED_REQUEST_HEADERS = "authorization, content-type, connect-protocol-version, connect-timeout-ms, grpc-timeout, x-grpc-web, x-user-agent";
const EXPOSED_HEADERS = "grpc-status, grpc-message, grpc-status-details-bin";

/** The host name a request was sent to, without port or brackets, lowercase. */
export function requestHostName(req: Request): string | undefined {
  const authority = (req.headers[":authority"] as string | undefined) ?? req.headers.host;
  if (!authority) return undefined;
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(authority) ?? /^([^:]+)(?::\d+)?$/.exec(authority);
  return (m?.[1] ?? authority).toLowerCase();
}

/** The names loopback is reached by: what --public-host defaults to. */
export const LOOPBACK_NAMES: readonly string[] = ["localhost", "127.0.0.1", "::1"];

/** The names a server answers to: the public ones (default loopback's), plus the address it listens on unless a wildcard. */
export function allowedHostNames(publicHosts: readonly string[] | undefined, listenHost: string): string[] {
  const names = publicHosts?.length ? publicHosts.map((h) => h.toLowerCase()) : [...LOOPBACK_NAMES];
  if (listenHost && listenHost !== "0.0.0.0" && listenHost !== "::") names.push(listenHost.toLowerCase());
  return [...new Set(names)];
}

/**
 * Answers and returns true when the request must not go on (wrong Host,
 * unlisted origin, or a CORS preflight); false lets it through, with CORS
 * headers set for a listed origin.
 */
export function guardBrowserRequest(req: Request, res: Response, o: BrowserGuardOptions, scheme: "http" | "https"): boolean {
  const send = (status: number, text: string, headers: Record<string, string> = {}) => {
    (res as http.ServerResponse).writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
    res.end(text + "\n");
    return true;
  };
  const host = requestHostName(req);
  if (!host || !o.allowedHosts.includes(host)) {
    return send(421, `Host "${host ?? ""}" is not a name of this server, so the request is refused (a guard against DNS rebinding). If clients reach the server by this name, add it to --public-host.`);
  }
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  const authority = (req.headers[":authority"] as string | undefined) ?? req.headers.host;
  if (origin === `${scheme}://${authority}`) return false; // same origin: the console
  if (!o.allowedOrigins.includes(origin)) {
    return send(403, `cross-origin request from ${origin} refused: the origin is not in --cors-allowed-origins`);
  }
  const cors = { "access-control-allow-origin": origin, vary: "origin" };
  if (req.method === "OPTIONS") {
    return send(204, "", {
      ...cors,
      "access-control-allow-methods": "POST, GET",
      "access-control-allow-headers": ALLOWED_REQUEST_HEADERS,
      "access-control-max-age": "7200",
    });
  }
  for (const [name, value] of Object.entries({ ...cors, "access-control-expose-headers": EXPOSED_HEADERS })) res.setHeader(name, value);
  return false;
}
