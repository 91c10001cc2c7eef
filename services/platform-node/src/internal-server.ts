import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "@fleetplane/platform";
import { listenDualProtocol, type DualProtocolServer } from "./dual-protocol-server.js";
import { serviceTokenInterceptor } from "./service-token.js";
import type { TlsFiles } from "./tls-files.js";
import { traceServerInterceptor } from "./tracing.js";

export interface InternalServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** The internal services only (AgentGatewayService, CommandRecorderService). */
  routes: (router: ConnectRouter) => void;
  /** The shared service secret every call must carry; unset only on loopback (the caller checks). */
  token: string | undefined;
  tls?: TlsFiles | undefined;
  logger: Logger;
  readMaxBytes?: number;
}

/**
 * The listener services call each other on, apart from the admin API: no
 * reflection, no console, no admin credentials — the service token instead.
 * Connect and gRPC over HTTP/1.1 and HTTP/2, optionally TLS.
 */
export async function startInternalServer(o: InternalServerOptions): Promise<DualProtocolServer> {
  const handler = connectNodeAdapter({
    routes: o.routes,
    readMaxBytes: o.readMaxBytes ?? 64 * 1024 * 1024,
    interceptors: [traceServerInterceptor, ...(o.token ? [serviceTokenInterceptor(o.token)] : [])],
  });
  const server = await listenDualProtocol(handler, { host: o.host, port: o.port, tls: o.tls, logger: o.logger });
  o.logger.info({ port: server.port, host: o.host, tls: server.scheme === "https", token: o.token !== undefined }, "internal API listening (service-to-service)");
  return server;
}
