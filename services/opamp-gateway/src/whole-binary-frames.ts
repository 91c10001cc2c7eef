import { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { WebSocket } from "ws";

/** The parts of ws's Receiver (a Writable, not in its type definitions) the shortcut reads. */
interface WsReceiver {
  write(chunk: Buffer): boolean;
  emit(event: "message", data: Buffer, isBinary: true): boolean;
  _state: number;
  _bufferedBytes: number;
  _fragmented: number;
  _opcode: number;
  _errored: boolean;
  _loop: boolean;
  _maxPayload: number;
  _binaryType: string;
  _allowSynchronousEvents: boolean;
  readonly writableLength: number;
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
}

/** ws's Receiver between frames (its GET_INFO state). */
const BETWEEN_FRAMES = 0;
/** FIN + opcode 2: a whole binary message in one frame, RSV bits clear (no extension). */
const FIN_BINARY = 0x82;
const CLOSE = 0x08;

/**
 * Lets `ws` take the common chunk — exactly one whole, masked binary frame
 * with a 7- or 16-bit length, arriving while its Receiver sits between
 * frames — without ws's parsing: the frame is unmasked in place and emitted
 * as the Receiver's own 'message' event, with the same Buffer (a view of
 * the chunk's payload) ws would give. Every other chunk (several frames, part
 * of one, a text, control, fragmented or unmasked frame, one over
 * maxPayload, a 64-bit length, an empty payload, a Receiver mid-frame,
 * errored, ended or after a close frame) goes to ws's Receiver untouched, so
 * RFC 6455 is still ws's to apply; `whole-binary-frames.spec.ts` fuzzes the
 * two against each other.
 *
 * Why: ws's Receiver is a Writable stream; a chunk passes through the stream
 * machinery, a parse loop of five states and two or three Buffer views
 * before the message is emitted — about 0.5 µs per heartbeat in a
 * micro-benchmark here, against ~0.15 µs for this check and unmask (and more
 * in the server, where a thousand receivers take turns in the cache; docs/
 * performance.md §20). In steady state every agent's report arrives as one
 * chunk holding one frame.
 *
 * Installed on the Receiver instance (its `write`, which ws's socket 'data'
 * listener calls), so ws's own listeners, their removal on error and close,
 * and its pause/resume stay as they are.
 */
export function takeWholeBinaryFrames(ws: WebSocket, deliver?: Deliver): void {
  const { _receiver: receiver, _socket: socket } = ws as unknown as { _receiver?: WsReceiver; _socket?: unknown };
  if (!receiver) return;
  shortcutReceiver(receiver, deliver);
  readFramesFromSocket(socket, receiver, deliver ?? ((data) => void receiver.emit("message", data, true)));
}

/** The net.Socket internals behind its `onread` option (Node's own names), which readFramesFromSocket sets after the fact. */
interface UserBufferSocket {
  kBuffer: symbol;
  kBufferCb: symbol;
  kBufferGen: symbol;
  handle: { useUserBuffer(buffer: Buffer): void };
}

/**
 * Reads into one buffer shared by every socket, and a whole binary frame
 * goes from there to `deliver` without Node's stream machinery: no 'data'
 * event, no Readable push, no ws socket listener, no Buffer over a fresh
 * 64 KiB read allocation and no next-tick check per read. This is Node's
 * own `onread` option of net.Socket (a buffer and a callback; the callback
 * runs where onStreamRead would push the chunk, and its false pauses
 * reading as push's does), set on a socket the HTTP server made. Why: with
 * the send side ours (§9) and the Receiver skipped (§20, §25), Node's read
 * path around a heartbeat — onStreamRead, the Readable, the 'data' emit, ws's
 * listener, its 64 KiB allocation cut to size and the ArrayBuffer over it —
 * was the largest share of the server's own (user-space) time per report
 * left (docs/performance.md §29).
 *
 * The callback takes a read only when it is exactly one whole frame the
 * Receiver may skip (wholeFrameStart) and the socket would have emitted it
 * at once as 'data' to ws's listener alone (flowing, nothing buffered, one
 * 'data' listener): the payload is unmasked into a Buffer of its own (the
 * message may be kept; the shared buffer is reused by the next read). Every
 * other read is copied into a Buffer of its own and pushed into the socket
 * as onStreamRead pushes it, so ws sees it as before. Ends of stream, read
 * errors and the socket's timer stay onStreamRead's; pausing the socket
 * (backpressure) stops the handle's reads, as Node does for this option.
 * Plain TCP sockets only (a TLS socket's reads are the TLS layer's). Per
 * socket it costs the callback's closure (about a hundred bytes); the read
 * buffer is one per process.
 */
function readFramesFromSocket(socket: unknown, r: WsReceiver, deliver: Deliver): void {
  const s = userBufferSocket(socket);
  if (!s || !(socket instanceof Socket)) return;
  const target = socket as unknown as Record<symbol, unknown>;
  target[s.kBufferCb] = (nread: number, buf: Buffer): boolean => {
    if (socket.readableFlowing === true && socket.readableLength === 0 && socket.listenerCount("data") === 1) {
      const start = wholeFrameStart(r, buf, nread);
      if (start !== 0) {
        const payload = Buffer.allocUnsafeSlow(nread - start);
        unmask(buf, start, nread, payload, 0);
        r._opcode = 2;
        deliver(payload, true);
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

/**
 * Where a message the shortcut takes goes. By default the Receiver's own
 * 'message' event, which ws relays as the WebSocket's 'message' (two emits).
 * A caller whose listener is the WebSocket's only 'message' listener may
 * pass that listener, and the shortcut calls it directly: what ws would have
 * called, with the same arguments, without the two emits on the way
 * (docs/performance.md §25).
 */
export type Deliver = (data: Buffer, isBinary: true) => void;

/** takeWholeBinaryFrames on the Receiver itself (its spec drives Receivers directly). */
export function shortcutReceiver(receiver: WsReceiver, deliver?: Deliver): void {
  const write = receiver.write.bind(receiver);
  const emit: Deliver = deliver ?? ((data) => void receiver.emit("message", data, true));
  receiver.write = (chunk: Buffer) => takeWholeFrame(receiver, chunk, emit) || write(chunk);
}

function takeWholeFrame(r: WsReceiver, chunk: Buffer, deliver: Deliver): boolean {
  const length = chunk.length;
  const start = wholeFrameStart(r, chunk, length);
  if (start === 0) return false;
  unmask(chunk, start, length, chunk, start);
  // ws's opcode is the last frame's: a binary frame, as its own parse would leave it.
  r._opcode = 2;
  deliver(chunk.subarray(start), true);
  return true;
}

/**
 * Where the payload starts when `chunk[0, length)` is one whole masked
 * binary frame the Receiver may skip (see takeWholeBinaryFrames); 0 when it
 * is not.
 */
function wholeFrameStart(r: WsReceiver, chunk: Buffer, length: number): number {
  // Six bytes of header and mask, then at least one byte of payload (ws emits an empty message as its shared EMPTY_BUFFER).
  if (length < 7 || chunk[0] !== FIN_BINARY) return 0;
  const b1 = chunk[1]!;
  if (b1 < 0x80) return 0; // unmasked: ws refuses it (1002)
  let payload = b1 & 0x7f;
  let start = 6;
  if (payload === 126) {
    if (length < 9) return 0;
    payload = (chunk[2]! << 8) | chunk[3]!;
    start = 8;
  } else if (payload === 127) return 0;
  if (payload === 0 || start + payload !== length) return 0;
  if (
    r._state !== BETWEEN_FRAMES ||
    r._bufferedBytes !== 0 ||
    r._fragmented !== 0 ||
    r._loop ||
    r._errored ||
    r._opcode === CLOSE ||
    r.writableLength !== 0 ||
    r.writableEnded ||
    r.destroyed ||
    r._binaryType !== "nodebuffer" ||
    !r._allowSynchronousEvents ||
    (r._maxPayload > 0 && payload > r._maxPayload)
  ) {
    return 0;
  }
  return start;
}

/** The payload `src[start, end)` unmasked (its mask is the four bytes before `start`) into `dst` from `at` (in place when `dst` is `src` and `at` is `start`). */
function unmask(src: Buffer, start: number, end: number, dst: Buffer, at: number): void {
  const m0 = src[start - 4]!;
  const m1 = src[start - 3]!;
  const m2 = src[start - 2]!;
  const m3 = src[start - 1]!;
  let i = start;
  let o = at;
  const whole = start + ((end - start) & ~3);
  for (; i < whole; i += 4, o += 4) {
    dst[o] = src[i]! ^ m0;
    dst[o + 1] = src[i + 1]! ^ m1;
    dst[o + 2] = src[i + 2]! ^ m2;
    dst[o + 3] = src[i + 3]! ^ m3;
  }
  if (i < end) dst[o++] = src[i++]! ^ m0;
  if (i < end) dst[o++] = src[i++]! ^ m1;
  if (i < end) dst[o] = src[i]! ^ m2;
}
