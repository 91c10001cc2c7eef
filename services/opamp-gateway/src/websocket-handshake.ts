import { hash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, type WebSocketServer } from "ws";

/** RFC 6455 §1.3: appended to the client's key before hashing. */
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** A Sec-WebSocket-Key is 16 bytes in base64 (RFC 6455 §4.1), the test ws applies. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;

/** The server side of a WebSocket that ws builds for a socket it did not upgrade itself (not in its type definitions). */
interface ServerSideWebSocket extends WebSocket {
  setSocket(socket: Duplex, head: Buffer, options: { allowSynchronousEvents?: boolean; maxBufferedChunks?: number; maxFragments?: number; maxPayload?: number; skipUTF8Validation?: boolean }): void;
}

/**
 * Completes the WebSocket opening handshake (RFC 6455 §4.2.2) and hands the
 * socket to `done` as a ws WebSocket, the way ws's handleUpgrade does, with
 * `wss`'s options.
 *
 * The common request — GET, "Upgrade: websocket", a valid key, version 13,
 * no subprotocol — is answered here: the same 101 response, byte for byte,
 * without ws's per-request work we have no use for (an error listener
 * added and removed, a subprotocol set, the handshake's "headers" event, a
 * hash object per key: node's one-shot hash instead). In a connect storm
 * the upgrade was ~17 % of the server's CPU per new agent
 * (docs/performance.md §15). Anything else (a bad or old-version request,
 * an offered subprotocol, a socket already half closed) goes to ws's
 * handleUpgrade, so its answers and refusals stay exactly ws's.
 *
 * Keep `wss` with clientTracking off: a socket upgraded here is not in its
 * `clients`. Never close `wss` (its 503 once closed is not checked here).
 */
export function completeWebSocketHandshake(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: WebSocket) => void): void {
  const key = req.headers["sec-websocket-key"];
  const plain =
    req.method === "GET" &&
    req.headers.upgrade?.toLowerCase() === "websocket" &&
    key !== undefined &&
    KEY.test(key) &&
    req.headers["sec-websocket-version"] === "13" &&
    req.headers["sec-websocket-protocol"] === undefined &&
    socket.readable &&
    socket.writable;
  if (!plain) return wss.handleUpgrade(req, socket, head, done);
  const accept = hash("sha1", key + WEBSOCKET_GUID, "base64");
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  const options = wss.options;
  // What ws's server does: its options (autoPong, closeTimeout, …) go to the WebSocket too.
  const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, o: object) => ServerSideWebSocket)(null, undefined, options);
  ws.setSocket(socket, head, {
    allowSynchronousEvents: options.allowSynchronousEvents,
    maxBufferedChunks: (options as { maxBufferedChunks?: number }).maxBufferedChunks,
    maxFragments: (options as { maxFragments?: number }).maxFragments,
    maxPayload: options.maxPayload,
    skipUTF8Validation: options.skipUTF8Validation,
  });
  done(ws);
}
