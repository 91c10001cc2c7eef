import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Logger } from "@fleetplane/platform";
import { readTlsFiles, watchTlsFiles, type TlsFiles } from "./tls-files.js";

/**
 * One TCP port that speaks HTTP/1.1 (browsers, the Connect protocol, health
 * probes) and HTTP/2 (gRPC clients such as grpcurl). With TLS, ALPN picks the
 * protocol (`allowHTTP1`). Without it Node cannot do both on one plain server
 * (`allowHTTP1` needs TLS), so we read the first bytes of each connection: an
 * HTTP/2 client always starts with the fixed preface "PRI * HTTP/2.0",
 * anything else is HTTP/1.
 */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface DualProtocolServer {
  readonly port: number;
  /** "https" when serving TLS. */
  readonly scheme: "http" | "https";
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  close(graceMs?: number): Promise<void>;
}

export interface ListenOptions {
  host: string;
  port: number;
  /** Serve TLS with this pair, reloaded when the files change. */
  tls?: TlsFiles | undefined;
  /** Logs certificate reloads (needed with `tls`). */
  logger?: Logger;
}

export async function listenDualProtocol(handler: RequestHandler, options: ListenOptions): Promise<DualProtocolServer> {
  if (options.tls) return listenTls(handler, options, options.tls);
  const http1 = http.createServer(handler as http.RequestListener);
  http1.keepAliveTimeout = 65_000;
  const h2 = http2.createServer({}, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });

  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    sniff(socket, (isH2) => (isH2 ? h2 : http1).emit("connection", socket));
  });

  await listen(tcp, options);

  return {
    port: (tcp.address() as net.AddressInfo).port,
    scheme: "http",
    async close(graceMs = 5_000) {
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      http1.closeIdleConnections();
      for (const s of sessions) s.close();
      const timer = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, graceMs);
      http1.close();
      await closed;
      clearTimeout(timer);
    },
  };
}

/** TLS: HTTP/2 and HTTP/1.1 by ALPN on one secure server; certificates reloaded on change. */
async function listenTls(handler: RequestHandler, options: ListenOptions, tls: TlsFiles): Promise<DualProtocolServer> {
  const server = http2.createSecureServer({ ...readTlsFiles(tls), allowHTTP1: true }, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const stopWatching = options.logger ? watchTlsFiles(tls, (context) => server.setSecureContext(context), options.logger) : () => {};
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await listen(server, options);
  return {
    port: (server.address() as net.AddressInfo).port,
    scheme: "https",
    async close(graceMs = 5_000) {
      stopWatching();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      const timer = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

/** Resolves once listening; rejects with the listen error (e.g. EADDRINUSE). */
function listen(server: net.Server, o: { host: string; port: number }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function sniff(socket: net.Socket, route: (isH2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const matches = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (matches && n < H2_PREFACE.length) return; // need more bytes to decide
    socket.off("data", onData);
    socket.pause();
    socket.unshift(seen);
    // The HTTP/2 session reads what we put back through socket.read() when it
    // attaches; resuming here would emit those bytes to nobody. HTTP/1's
    // parser listens for 'data', so that socket must flow again.
    route(matches);
    if (!matches) socket.resume();
  };
  socket.on("data", onData);
}
