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
  const receiver = (ws as unknown as { _receiver?: WsReceiver })._receiver;
  if (receiver) shortcutReceiver(receiver, deliver);
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
  // Six bytes of header and mask, then at least one byte of payload (ws emits an empty message as its shared EMPTY_BUFFER).
  if (length < 7 || chunk[0] !== FIN_BINARY) return false;
  const b1 = chunk[1]!;
  if (b1 < 0x80) return false; // unmasked: ws refuses it (1002)
  let payload = b1 & 0x7f;
  let start = 6;
  if (payload === 126) {
    if (length < 9) return false;
    payload = (chunk[2]! << 8) | chunk[3]!;
    start = 8;
  } else if (payload === 127) return false;
  if (payload === 0 || start + payload !== length) return false;
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
    return false;
  }
  const m0 = chunk[start - 4]!;
  const m1 = chunk[start - 3]!;
  const m2 = chunk[start - 2]!;
  const m3 = chunk[start - 1]!;
  let i = start;
  const whole = start + (payload & ~3);
  for (; i < whole; i += 4) {
    chunk[i]! ^= m0;
    chunk[i + 1]! ^= m1;
    chunk[i + 2]! ^= m2;
    chunk[i + 3]! ^= m3;
  }
  if (i < length) chunk[i++]! ^= m0;
  if (i < length) chunk[i++]! ^= m1;
  if (i < length) chunk[i]! ^= m2;
  // ws's opcode is the last frame's: a binary frame, as its own parse would leave it.
  r._opcode = 2;
  deliver(chunk.subarray(start), true);
  return true;
}
