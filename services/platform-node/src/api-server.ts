import type { ConnectRouter, ContextValues, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { listenDualProtocol, type DualProtocolServer } from "./dual-protocol-server.js";
import type { Logger } from "@fleetplane/platform";
import { renderMetrics } from "./metrics.js";
import type { DescService } from "@bufbuild/protobuf";
import { ServerReflection as ReflectionV1 } from "@fleetplane/gen/grpc/reflection/v1/reflection_pb";
import { ServerReflection as ReflectionV1alpha } from "@fleetplane/gen/grpc/reflection/v1alpha/reflection_pb";
import { createHealthService, Health } from "./grpc-health.js";
import { createReflectionServices } from "./grpc-reflection.js";
import { traceServerInterceptor } from "./tracing.js";
import { allowedHostNames, guardBrowserRequest } from "./browser-guard.js";
import type { TlsFiles } from "./tls-files.js";

/**
 * Plain-HTTP pages served beside the API (the web console): answers a
 * request it knows and resolves true, or resolves false to leave it alone.
 */
export type WebHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => Promise<boolean>;

export interface ApiServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  routes: (router: ConnectRouter) => void;
  logger: Logger;
  /** Answers /readyz: true only when every dependency answers. Default: always ready. */
  ready?: () => Promise<boolean>;
  /** Largest request message accepted, in bytes. */
  readMaxBytes?: number;
  /** Tried for requests that are neither RPCs nor probes, before the 404. */
  web?: WebHandler;
  /** Run on every RPC after tracing: the admin authentication and authorization. */
  interceptors?: Interceptor[];
  /** Per-request context values (e.g. the client's address for the interceptors). */
  contextValues?: (req: http.IncomingMessage | http2.Http2ServerRequest) => ContextValues;
  /** Serve TLS (h2 by ALPN and HTTP/1.1), reloading the files when they change. */
  tls?: TlsFiles | undefined;
  /** Host names RPCs and pages are answered for; default: loopback names. The listen address is always one. */
  publicHosts?: readonly string[] | undefined;
  /** Origins whose pages may call the API (CORS); default none. */
  corsAllowedOrigins?: readonly string[] | undefined;
}

/** Probes and metrics answer whatever the Host: kubelets and scrapers use pod addresses. */
const PROBES = new Set(["/healthz", "/readyz", "/metrics"]);

/**
 * Serves Connect, gRPC and gRPC-web for the given routes on one port, plus the
 * plain-HTTP probes `/healthz` (the process runs) and `/readyz` (it can serve),
 * Prometheus metrics at `/metrics`, gRPC server reflection (v1 and v1alpha)
 * and grpc.health.v1.Health. RPCs and pages pass the browser guard (Host and
 * Origin) first; probes and metrics stay open.
 */
export async function startApiServer(options: ApiServerOptions): Promise<DualProtocolServer> {
  const ready = options.ready ?? (async () => true);
  let served: DescService[] = [];
  const handler = connectNodeAdapter({
    routes: (router) => {
      options.routes(router);
      // Admins' tools find every service without proto files (reflection),
      // and load balancers probe gRPC health.
      const reflection = createReflectionServices(() => served);
      router.service(ReflectionV1, reflection.v1);
      router.service(ReflectionV1alpha, reflection.v1alpha);
      router.service(Health, createHealthService({ ready, services: () => served }));
      served = [...new Set(router.handlers.map((h) => h.service))];
    },
    readMaxBytes: options.readMaxBytes ?? 64 * 1024 * 1024,
    // JSON answers show every field, zero values too: proto3's JSON omits
    // them, so a fleet summary bucket of agents without service.name, or
    // of remote config state UNSET, came back as a bare {"count": …}.
    jsonOptions: { alwaysEmitImplicit: true },
    interceptors: [traceServerInterceptor, ...(options.interceptors ?? [])],
    ...(options.contextValues ? { contextValues: options.contextValues } : {}),
    fallback: (req, res) => {
      void probe(req, res as http.ServerResponse, ready, options.web);
    },
  });
  const guard = {
    allowedHosts: allowedHostNames(options.publicHosts, options.host),
    allowedOrigins: options.corsAllowedOrigins ?? [],
  };
  const scheme = options.tls ? "https" : "http";
  const guarded = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    if (!PROBES.has((req.url ?? "").split("?")[0]!) && guardBrowserRequest(req, res, guard, scheme)) return;
    handler(req as http.IncomingMessage, res as http.ServerResponse);
  };
  const server = await listenDualProtocol(guarded, { host: options.host, port: options.port, tls: options.tls, logger: options.logger });
  options.logger.info(
    { port: server.port, host: options.host, tls: server.scheme === "https", publicHosts: guard.allowedHosts },
    `API listening (Connect, gRPC, gRPC-web; HTTP/1.1 and ${server.scheme === "https" ? "h2 over TLS" : "h2c"})`,
  );
  return server;
}

async function probe(
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
  ready: () => Promise<boolean>,
  web: WebHandler | undefined,
): Promise<void> {
  const path = (req.url ?? "").split("?")[0];
  const send = (status: number, body: string) => {
    (res as http.ServerResponse).writeHead(status, { "content-type": "text/plain; charset=utf-8" });
    res.end(body + "\n");
  };
  if (path === "/healthz") return send(200, "ok");
  if (path === "/metrics") {
    const { contentType, body } = await renderMetrics();
    (res as http.ServerResponse).writeHead(200, { "content-type": contentType });
    res.end(body);
    return;
  }
  if (path === "/readyz") {
    let ok = false;
    try {
      ok = await ready();
    } catch {
      ok = false;
    }
    return send(ok ? 200 : 503, ok ? "ready" : "not ready");
  }
  if (web && (await web(req, res))) return;
  send(404, "not found");
}
