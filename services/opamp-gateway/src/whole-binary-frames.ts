import { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { unmaskInto, type ServerWebSocket } from "./server-websocket.js";

/**
 * Reads `ws`'s socket into one buffer shared by every socket, and a read
 * that is exactly one whole masked binary frame (ServerWebSocket.
 * wholeFrameStart; nearly every report) goes to `ws`'s message event
 * without Node's stream machinery: no 'data' event, no Readable push, no
 * Buffer over a fresh 64 KiB read allocation and no next-tick check per
 * read. This is Node's own `onread` option of net.Socket (a buffer and a
 * callback; the callback runs where onStreamRead would push the chunk, and
 * its false pauses reading as push's does), set on a socket the HTTP server
 * made. Why: Node's read path around a heartbeat was the largest share of
 * the server's own (user-space) time per report left once the send side
 * was ours (docs/performance.md §29).
 *
 * The callback takes a read only when the socket would have emitted it at
 * once as 'data' to `ws`'s listener alone (flowing, nothing buffered, one
 * 'data' listener): the payload is unmasked into a Buffer of its own (the
 * message may be kept; the shared buffer is reused by the next read). Every
 * other read is copied into a Buffer of its own and pushed into the socket
 * as onStreamRead pushes it, so `ws` reads it from its 'data' event. Ends of
 * stream, read errors and the socket's timer stay onStreamRead's; pausing
 * the socket (backpressure) stops the handle's reads, as Node does for this
 * option. Plain TCP sockets only (a TLS socket's reads are the TLS layer's).
 * Per socket it costs the callback's closure (about a hundred bytes); the
 * read buffer is one per process.
 */
export function readWholeFramesFromSocket(ws: ServerWebSocket): void {
  const socket = ws.socket;
  const s = userBufferSocket(socket);
  if (!s || !(socket instanceof Socket)) return;
  const target = socket as unknown as Record<symbol, unknown>;
  target[s.kBufferCb] = (nread: number, buf: Buffer): boolean => {
    if (socket.readableFlowing === true && socket.readableLength === 0 && socket.listenerCount("data") === 1) {
      const start = ws.wholeFrameStart(buf, nread);
      if (start !== 0) {
        const payload = Buffer.allocUnsafeSlow(nread - start);
        unmaskInto(buf, start, nread, payload, 0);
        ws.deliverWholeFrame(payload);
        return true;
      }
    }
    const chunk = Buffer.allocUnsafeSlow(nread);
    buf.copy(chunk, 0, 0, nread);
    return socket.push(chunk);
  };
  target[s.kBuffer] = sharedReadBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  s.handle.useUserBuffer(sharedReadBuffer);
}

/** The net.Socket internals behind its `onread` option (Node's own names), which readWholeFramesFromSocket sets after the fact. */
interface UserBufferSocket {
  kBuffer: symbol;
  kBufferCb: symbol;
  kBufferGen: symbol;
  handle: { useUserBuffer(buffer: Buffer): void };
}

/** What libuv suggests for a read, and what Node allocates per read without the option. */
const READ_BUFFER_BYTES = 65_536;
let sharedReadBuffer: Buffer | undefined;

/** net.Socket's symbols for its onread option; null when this Node has none of that name. */
let onreadSymbols: Omit<UserBufferSocket, "handle"> | null | undefined;

/** The socket's onread internals, when it is a plain TCP socket made without the option; undefined otherwise (it is then left as it is). */
function userBufferSocket(socket: unknown): UserBufferSocket | undefined {
  if (!(socket instanceof Socket) || socket instanceof TLSSocket) return undefined;
  const handle = (socket as unknown as { _handle?: Partial<UserBufferSocket["handle"]> | null })._handle;
  if (typeof handle?.useUserBuffer !== "function") return undefined;
  // net's own module-level symbols, the same on every socket: looked up once (a new agent pays no search).
  if (onreadSymbols === undefined) {
    const symbols = Object.getOwnPropertySymbols(socket);
    const named = (name: string) => symbols.find((k) => k.description === name);
    const [kBuffer, kBufferCb, kBufferGen] = [named("kBuffer"), named("kBufferCb"), named("kBufferGen")];
    onreadSymbols = kBuffer && kBufferCb && kBufferGen ? { kBuffer, kBufferCb, kBufferGen } : null;
  }
  if (onreadSymbols === null) return undefined;
  const { kBuffer, kBufferCb, kBufferGen } = onreadSymbols;
  const own = socket as unknown as Record<symbol, unknown>;
  // Made with its own onread option: not ours to change.
  if (own[kBuffer] != null || own[kBufferCb] != null || own[kBufferGen] != null) return undefined;
  return { kBuffer, kBufferCb, kBufferGen, handle: handle as UserBufferSocket["handle"] };
}
