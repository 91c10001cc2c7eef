import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";

/**
 * One TCP port that speaks HTTP/1.1 (browsers, the Connect protocol, health
 * probes) and cleartext HTTP/2 (gRPC clients such as grpcurl). Node cannot do
 * both on one plain server (`allowHTTP1` needs TLS), so we read the first bytes
 * of each connection: an HTTP/2 client always starts with the fixed preface
 * "PRI * HTTP/2.0", anything else is HTTP/1.
 */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface DualProtocolServer {
  readonly port: number;
  readonly http1: http.Server;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  close(graceMs?: number): Promise<void>;
}

export async function listenDualProtocol(
  handler: RequestHandler,
  options: { host: string; port: number },
): Promise<DualProtocolServer> {
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

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(options.port, options.host, () => {
      tcp.off("error", reject);
      resolve();
    });
  });

  return {
    port: (tcp.address() as net.AddressInfo).port,
    http1,
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
