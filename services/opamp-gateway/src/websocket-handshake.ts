import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer } from "ws";
import { ServerWebSocket, type ServerWebSocketEvents, type ServerWebSocketLimits } from "./server-websocket.js";

/** RFC 6455 §1.3: appended to the client's key before hashing. */
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** A Sec-WebSocket-Key is 16 bytes in base64 (RFC 6455 §4.1), the test ws applies. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;

/**
 * Completes the WebSocket opening handshake (RFC 6455 §4.2.2) and returns
 * the socket as a ServerWebSocket; undefined when the request is refused or
 * the socket was already half closed.
 *
 * A request ws would accept (GET, "Upgrade: websocket", a valid key,
 * version 13 or 8, a well-formed Sec-WebSocket-Protocol list if any) is
 * answered here with ws's 101, byte for byte: with an offered subprotocol
 * list, its first name, as ws's server picks without a handleProtocols.
 * Every other request goes to `refuser`'s handleUpgrade, so refusals (405,
 * 400 with ws's bodies and headers) stay exactly ws's; it makes no
 * WebSocket for them (and any it made anyway is dropped). In a connect storm
 * the upgrade was ~17 % of the server's CPU per new agent with ws's own
 * path (docs/performance.md §15).
 */
export function completeWebSocketHandshake<Owner>(
  refuser: WebSocketServer,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  limits: ServerWebSocketLimits,
  events: ServerWebSocketEvents<Owner>,
): ServerWebSocket<Owner> | undefined {
  const key = req.headers["sec-websocket-key"];
  const offered = req.headers["sec-websocket-protocol"];
  const version = Number(req.headers["sec-websocket-version"]);
  const protocol = offered === undefined ? "" : firstSubprotocol(offered);
  const acceptable =
    req.method === "GET" &&
    req.headers.upgrade?.toLowerCase() === "websocket" &&
    key !== undefined &&
    KEY.test(key) &&
    (version === 13 || version === 8) &&
    protocol !== undefined;
  if (!acceptable) {
    refuser.handleUpgrade(req, socket, head, dropUnexpected);
    return undefined;
  }
  if (!socket.readable || !socket.writable) {
    socket.destroy();
    return undefined;
  }
  // createHash, not the one-shot crypto.hash: that is Node ≥ 20.12, and
  // package.json's engines says 20.11. The hash object costs ~0.5 µs more
  // per upgrade (a scratch loop of 200,000 keys: 0.8 against 0.3 µs), of
  // the ~620 µs of server CPU a new agent cost in docs/performance.md §46's profile.
  const accept = createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
  const chosen = protocol === "" ? "" : `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${chosen}\r\n`);
  // Bytes that came with the request, after its head: the first frames (ws unshifts them the same way, before its listeners).
  if (head.length > 0) socket.unshift(head);
  return new ServerWebSocket<Owner>(socket, limits, events);
}

/** A WebSocket ws's handleUpgrade made for a request refused above: never expected (the checks are ws's), closed if it comes. */
function dropUnexpected(ws: WebSocket): void {
  ws.terminate();
}

/**
 * The first name of a Sec-WebSocket-Protocol list, by ws's parser's rules
 * (tokens separated by commas and optional spaces or tabs, no name twice);
 * undefined when the list is malformed, which ws refuses with 400.
 */
export function firstSubprotocol(header: string): string | undefined {
  const seen = new Set<string>();
  let start = -1;
  let end = -1;
  let i = 0;
  for (; i < header.length; i++) {
    const code = header.charCodeAt(i);
    if (end === -1 && isTokenChar(code)) {
      if (start === -1) start = i;
    } else if (i !== 0 && (code === 0x20 || code === 0x09)) {
      if (end === -1 && start !== -1) end = i;
    } else if (code === 0x2c) {
      if (start === -1) return undefined;
      if (end === -1) end = i;
      const name = header.slice(start, end);
      if (seen.has(name)) return undefined;
      seen.add(name);
      start = end = -1;
    } else return undefined;
  }
  if (start === -1 || end !== -1) return undefined;
  const last = header.slice(start, i);
  if (seen.has(last)) return undefined;
  seen.add(last);
  return seen.values().next().value;
}

/** RFC 7230's tchar: ALPHA, DIGIT and !#$%&'*+-.^_`|~. */
function isTokenChar(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x23 && code <= 0x27) ||
    code === 0x21 ||
    code === 0x2a ||
    code === 0x2b ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5e ||
    code === 0x5f ||
    code === 0x60 ||
    code === 0x7c ||
    code === 0x7e
  );
}
