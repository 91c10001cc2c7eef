import { isUtf8 } from "node:buffer";
import type { Duplex } from "node:stream";

/**
 * The server side of one WebSocket (RFC 6455), after the opening handshake
 * (websocket-handshake.ts): frames read from the socket, control frames
 * answered, the closing handshake. What the gateway used ws's WebSocket,
 * Receiver and Sender for, without what it never used (a client side,
 * extensions, text sending, a send queue, per-socket event emitters).
 *
 * Why our own: ws builds a WebSocket, a Receiver (a Writable stream) and a
 * Sender per socket, with listeners on each — ~1.5 KiB of an idle agent's
 * memory (of ~14) and ~60–90 µs of CPU per connection closed
 * (docs/performance.md §51). The gateway already wrote every frame it sends
 * itself (websocket-connection.ts) and read nearly every frame past ws
 * (whole-binary-frames.ts); ws was left with the rare frame, the control
 * frames and the close, which this class does with a few fields per socket.
 *
 * The rules are ws's (8.x, a server with permessage-deflate off), so peers
 * see the same answers: a protocol error closes with 1002, invalid UTF-8
 * (a text message, a close reason) with 1007, a message over maxPayload or
 * a length over 2^53 − 1 with 1009, too many fragments or buffered chunks
 * with 1008; a ping is answered with a pong of its payload while the socket
 * is open; a close frame is answered with the same code (none for none) and
 * the socket ended; a close of ours waits `closeTimeoutMs` for the peer's,
 * then destroys the socket. `server-websocket.spec.ts` feeds the same bytes
 * to this class and to ws's Receiver and compares what each emits.
 *
 * Events go to one `ServerWebSocketEvents` object shared by every socket (no
 * closure or emitter per socket); `owner` is the caller's per-socket value.
 */
export class ServerWebSocket<Owner = unknown> {
  /** What the caller keeps with this socket (the transport: its agent connection). */
  owner: Owner | undefined;
  /** OPEN, CLOSING (a close frame sent, or the socket ending) or CLOSED (the socket closed; `close` emitted). */
  readyState: ReadyState = OPEN;
  /**
   * Why the socket is not read (PAUSED_FOR_QUEUE, PAUSED_FOR_WRITES, one bit
   * each); 0 while it is read. Reading resumes when the last reason is
   * cleared, so one reason ending does not resume the other.
   */
  pausedFor = 0;
  /** The unread start of a frame that has not fully arrived: its chunks so far, and how many bytes it needs. */
  private partial: Buffer[] | undefined;
  private partialBytes = 0;
  private need = 0;
  /** How many of the frame's first bytes are its header and mask (all it needs when the header is not whole yet), and how many of `partial`'s chunks hold nothing else: ws counts only the chunks it has not consumed against its bound. */
  private headBytes = 0;
  private headChunks = 0;
  /** The frames so far of a fragmented message; undefined between messages. */
  private fragments: Buffer[] | undefined;
  private fragmentOpcode = 0;
  private messageBytes = 0;
  private fragmentCount = 0;
  private closeSent = false;
  private closeReceived = false;
  /** A protocol error was found: nothing more is read. */
  private failed = false;
  private pendingPongs = 0;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Duplex,
    private readonly limits: ServerWebSocketLimits,
    private readonly events: ServerWebSocketEvents<Owner>,
    owner?: Owner,
  ) {
    this.owner = owner;
    // As ws does: a WebSocket has liveness of its own (pings), not the HTTP server's idle timeout; small frames go out at once.
    const net = socket as Duplex & { setTimeout?(ms: number): void; setNoDelay?(on?: boolean): void };
    net.setTimeout?.(0);
    net.setNoDelay?.();
    (socket as unknown as Record<symbol, ServerWebSocket<Owner>>)[SERVER_WEBSOCKET] = this;
    socket.on("data", onSocketData);
    socket.on("end", onSocketEnd);
    socket.on("error", onSocketError);
    socket.on("close", onSocketClose);
  }

  /** Pings the peer (an empty ping frame); nothing once closing. */
  ping(): void {
    if (this.readyState === OPEN) this.write(PING_FRAME);
  }

  /**
   * Writes one whole frame (the caller's: a reply, a push) to the socket.
   * A peer that does not read must not make us hold its frames without
   * bound: when the write is buffered past the socket's high-water mark,
   * reading stops (PAUSED_FOR_WRITES) until the socket drains, so the peer
   * cannot make us answer more; and past limits.maxUnsentBytes unsent the
   * socket is terminated (pushes, and the rest of a read already taken,
   * still add) and `stalled` is emitted. A write the socket takes at once
   * (every heartbeat's answer to a reading peer) costs only its boolean.
   */
  write(frame: Buffer): void {
    if (!this.socket.write(frame)) this.writesBacked();
  }

  /**
   * Whether a peer we stopped reading because it did not read our writes
   * (PAUSED_FOR_WRITES) took any of them since the last call: the liveness
   * check's test of a slow peer against one that takes nothing (a slow link
   * carrying one large reply keeps its heartbeats unread behind it
   * meanwhile). The first call of a pause has nothing to compare with and
   * says yes: one interval's grace. False while not so paused.
   */
  tookWritesSinceLastLook(): boolean {
    if ((this.pausedFor & PAUSED_FOR_WRITES) === 0) return false;
    const now = this.unsent();
    const before = unsentAtLook.get(this);
    unsentAtLook.set(this, now);
    return before === undefined || now.buffered < before.buffered || now.queued < before.queued;
  }

  /**
   * Where our writes stand: the stream's buffered bytes, which count a frame
   * being written whole until all of it is out, and the bytes the TCP
   * socket's handle still holds of what it was handed, which fall as the
   * peer takes a large frame piece by piece. Under TLS that is the handle of
   * the TCP socket beneath (`_parent`): the TLS socket's own does not move
   * (0 where the stream has no such handle).
   */
  unsent(): Unsent {
    const stream = this.socket as Duplex & { _parent?: Duplex | null };
    const handle = ((stream._parent ?? stream) as Duplex & { _handle?: { writeQueueSize?: number } | null })._handle;
    return { buffered: this.socket.writableLength, queued: handle?.writeQueueSize ?? 0 };
  }

  private writesBacked(): void {
    const unsent = this.socket.writableLength;
    const max = this.limits.maxUnsentBytes;
    if (max > 0 && unsent > max) {
      if (this.socket.destroyed) return;
      this.terminate();
      this.events.stalled(this, unsent);
      return;
    }
    if ((this.pausedFor & PAUSED_FOR_WRITES) !== 0 || this.readyState === CLOSED) return;
    this.pause(PAUSED_FOR_WRITES);
    this.socket.once("drain", onSocketDrain);
  }

  /**
   * Starts the closing handshake: a close frame with `code` (none when
   * undefined) and `reason`, then the socket is destroyed if the peer does
   * not answer within closeTimeoutMs. Once closing, it only ends the socket
   * when both close frames have passed. Throws TypeError for a code a close
   * frame may not carry and RangeError for a reason over 123 bytes (as ws).
   */
  close(code?: number, reason?: string | Buffer): void {
    if (this.readyState === CLOSED) return;
    if (this.readyState === CLOSING) {
      if (this.closeSent && (this.closeReceived || this.failed)) this.socket.end();
      return;
    }
    this.socket.write(closeFrame(code, reason));
    this.closeSent = true;
    if (this.closeReceived || this.failed) this.socket.end();
    this.readyState = CLOSING;
    this.closeTimer = setTimeout(destroySocket, this.limits.closeTimeoutMs, this.socket);
  }

  /** Drops the connection without a closing handshake. */
  terminate(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSING;
    this.socket.destroy();
  }

  /** Stops reading from the socket for `reason` until resume(reason) (backpressure: the caller's queue is full, or our writes wait). */
  pause(reason: PauseReason): void {
    if (this.readyState === CLOSED) return;
    this.pausedFor |= reason;
    this.socket.pause();
  }

  /** Clears `reason`; the socket is read again once no reason is left. */
  resume(reason: PauseReason): void {
    if (this.readyState === CLOSED) return;
    this.pausedFor &= ~reason;
    if (this.pausedFor === 0) this.socket.resume();
  }

  /**
   * Where the payload starts when `chunk[0, length)` is exactly one whole
   * masked binary frame of 1 to 65,535 bytes within maxPayload, arriving
   * between messages (nothing partial, no fragmented message, no close
   * frame or error before it); 0 otherwise. Nearly every report arrives so;
   * whole-binary-frames.ts takes such reads without the socket's stream.
   */
  wholeFrameStart(chunk: Buffer, length: number): number {
    if (length < 7 || chunk[0] !== FIN_BINARY) return 0;
    const b1 = chunk[1]!;
    if (b1 < 0x80) return 0;
    let payload = b1 & 0x7f;
    let start = 6;
    if (payload === 126) {
      if (length < 9) return 0;
      payload = (chunk[2]! << 8) | chunk[3]!;
      start = 8;
    } else if (payload === 127) return 0;
    if (payload === 0 || start + payload !== length) return 0;
    if (this.partial !== undefined || this.fragments !== undefined || this.closeReceived || this.failed || this.readyState === CLOSED) return 0;
    const max = this.limits.maxPayload;
    if (max > 0 && payload > max) return 0;
    return start;
  }

  /** A whole frame wholeFrameStart accepted, its payload already unmasked: delivered as a binary message. */
  deliverWholeFrame(payload: Buffer): void {
    this.events.message(this, payload, true);
  }

  /** Bytes read from the socket. */
  receive(chunk: Buffer): void {
    // After a close frame or an error nothing more is read (ws removes its 'data' listener then).
    if (this.closeReceived || this.failed) return;
    let buf = chunk;
    if (this.partial !== undefined) {
      if (this.partial.length - this.headChunks >= MAX_BUFFERED_CHUNKS) return void this.fail(1008, "too-many-chunks", "Too many buffered chunks");
      if (this.partialBytes + chunk.length <= this.headBytes) this.headChunks++;
      this.partial.push(chunk);
      this.partialBytes += chunk.length;
      if (this.partialBytes < this.need) return;
      buf = Buffer.concat(this.partial, this.partialBytes);
      this.partial = undefined;
      this.partialBytes = 0;
    }
    const end = buf.length;
    let at = 0;
    while (at < end) {
      const used = this.frame(buf, at, end);
      if (used === INCOMPLETE) {
        this.partial = [at === 0 ? buf : unpinned(buf.subarray(at))];
        this.partialBytes = end - at;
        this.headChunks = this.partialBytes <= this.headBytes ? 1 : 0;
        return;
      }
      if (used === STOP) return;
      at += used;
    }
  }

  /**
   * Reads the frame at `buf[at]`: the bytes it took, INCOMPLETE (this.need
   * says how many it needs from `at`, this.headBytes how many of them are
   * header and mask) or STOP (a close frame or an error: nothing more is read).
   */
  private frame(buf: Buffer, at: number, end: number): number {
    const available = end - at;
    if (available < 2) return this.incomplete(2, 2);
    const b0 = buf[at]!;
    const b1 = buf[at + 1]!;
    if ((b0 & 0x30) !== 0) return this.fail(1002, "protocol", "RSV2 and RSV3 must be clear");
    // RSV1 is permessage-deflate's, which this server never agrees to.
    if ((b0 & 0x40) !== 0) return this.fail(1002, "protocol", "RSV1 must be clear");
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    let length = b1 & 0x7f;
    if (opcode === 0) {
      if (this.fragments === undefined) return this.fail(1002, "protocol", "invalid opcode 0");
    } else if (opcode === 1 || opcode === 2) {
      if (this.fragments !== undefined) return this.fail(1002, "protocol", `invalid opcode ${opcode}`);
    } else if (opcode >= 8 && opcode <= 10) {
      if (!fin) return this.fail(1002, "protocol", "FIN must be set");
      if (length > 125 || (opcode === 8 && length === 1)) return this.fail(1002, "protocol", `invalid payload length ${length}`);
    } else return this.fail(1002, "protocol", `invalid opcode ${opcode}`);
    // A client masks every frame (RFC 6455 §5.1).
    if ((b1 & 0x80) === 0) return this.fail(1002, "protocol", "MASK must be set");
    let head = 2;
    if (length === 126) {
      if (available < 4) return this.incomplete(4, 4);
      length = buf.readUInt16BE(at + 2);
      head = 4;
    } else if (length === 127) {
      if (available < 10) return this.incomplete(10, 10);
      const high = buf.readUInt32BE(at + 2);
      if (high > MAX_SAFE_HIGH_WORD) return this.fail(1009, "length-unsupported", "Unsupported WebSocket frame: payload length > 2^53 - 1");
      length = high * 0x1_0000_0000 + buf.readUInt32BE(at + 6);
      head = 10;
    }
    // Checked on the header, before the payload is waited for: a message over the limit is refused at once.
    const max = this.limits.maxPayload;
    if (length > 0 && opcode < 8 && max > 0 && this.messageBytes + length > max) return this.fail(1009, "message-too-large", "Max payload size exceeded");
    head += 4;
    if (available < head + length) return this.incomplete(head + length, head);
    const start = at + head;
    const payload = buf.subarray(start, start + length);
    unmask(buf, start, start + length);
    if (opcode >= 8) return this.control(opcode, payload) ? head + length : STOP;
    return this.data(fin, opcode, payload) ? head + length : STOP;
  }

  private incomplete(need: number, headBytes: number): typeof INCOMPLETE {
    this.need = need;
    this.headBytes = headBytes;
    return INCOMPLETE;
  }

  /** A data frame; false when it ended reading (an error). */
  private data(fin: boolean, opcode: number, payload: Buffer): boolean {
    if (++this.fragmentCount > MAX_FRAGMENTS) return this.refuse(1008, "too-many-fragments", "Too many message fragments");
    this.messageBytes += payload.length;
    if (!fin) {
      if (opcode !== 0) this.fragmentOpcode = opcode;
      const fragments = (this.fragments ??= []);
      if (payload.length > 0) fragments.push(unpinned(payload));
      return true;
    }
    const kind = opcode === 0 ? this.fragmentOpcode : opcode;
    const fragments = this.fragments;
    let message: Buffer;
    if (fragments === undefined) message = unpinned(payload);
    else {
      if (payload.length > 0) fragments.push(unpinned(payload));
      message = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments, this.messageBytes);
      this.fragments = undefined;
    }
    this.messageBytes = 0;
    this.fragmentCount = 0;
    if (kind === 1 && !isUtf8(message)) return this.refuse(1007, "invalid-utf8", "invalid UTF-8 sequence");
    this.events.message(this, message, kind === 2);
    return true;
  }

  /** A control frame; false when it ended reading (a close frame, an error). */
  private control(opcode: number, payload: Buffer): boolean {
    if (opcode === 9) {
      if (this.readyState === OPEN) {
        // A peer that pings faster than it reads our pongs is dropped, as ws drops one with 60 pongs unwritten.
        if (this.pendingPongs >= MAX_PENDING_PONGS) this.terminate();
        else {
          this.pendingPongs++;
          this.socket.write(controlFrame(PONG, payload), () => this.pendingPongs--);
        }
      }
      return true;
    }
    if (opcode === 10) {
      this.events.pong(this);
      return true;
    }
    let code = NO_STATUS;
    let reason: Buffer | undefined;
    if (payload.length > 0) {
      code = payload.readUInt16BE(0);
      if (!isValidCloseCode(code)) return this.refuse(1002, "protocol", `invalid status code ${code}`);
      reason = payload.subarray(2);
      if (!isUtf8(reason)) return this.refuse(1007, "invalid-utf8", "invalid UTF-8 sequence");
    }
    this.closeReceived = true;
    this.dropPartial();
    // The rest is not read, but the socket drains, so its end arrives.
    this.socket.resume();
    if (code === NO_STATUS) this.close();
    else this.close(code, reason);
    return false;
  }

  /** A protocol error: the socket closes with `closeCode` and the caller hears why. Always STOP. */
  private fail(closeCode: WebSocketProtocolError["closeCode"], kind: WebSocketProtocolError["kind"], message: string): typeof STOP {
    this.failed = true;
    this.dropPartial();
    this.socket.resume();
    this.close(closeCode);
    this.events.error(this, new WebSocketProtocolError(message, closeCode, kind));
    return STOP;
  }

  /** fail() for the frame handlers, which answer whether reading goes on: never, after it. */
  private refuse(closeCode: WebSocketProtocolError["closeCode"], kind: WebSocketProtocolError["kind"], message: string): false {
    this.fail(closeCode, kind, message);
    return false;
  }

  private dropPartial(): void {
    this.partial = undefined;
    this.partialBytes = 0;
    this.fragments = undefined;
  }

  /** The socket closed: what it still held is read (as ws does), then `close` is emitted, once. */
  closed(): void {
    const socket = this.socket;
    socket.off("data", onSocketData);
    socket.off("end", onSocketEnd);
    socket.off("close", onSocketClose);
    this.readyState = CLOSING;
    const state = (socket as unknown as { readableEnded?: boolean }).readableEnded;
    if (!state && !this.closeReceived && !this.failed && socket.readableLength > 0) {
      const rest = socket.read(socket.readableLength) as Buffer | null;
      if (rest !== null) this.receive(rest);
    }
    clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this.dropPartial();
    this.readyState = CLOSED;
    this.events.close(this);
  }
}

/** What every ServerWebSocket of one server reports to; `ws.owner` tells the sockets apart. */
export interface ServerWebSocketEvents<Owner = unknown> {
  /** A whole message: `isBinary` false for a text message (valid UTF-8). */
  message(ws: ServerWebSocket<Owner>, data: Buffer, isBinary: boolean): void;
  /** A pong frame arrived. */
  pong(ws: ServerWebSocket<Owner>): void;
  /** The peer broke the protocol; the socket is already closing with `err.closeCode`. At most once per socket. */
  error(ws: ServerWebSocket<Owner>, err: WebSocketProtocolError): void;
  /** The peer did not read: `unsentBytes` of our frames waited past maxUnsentBytes, and the socket was terminated. At most once per socket. */
  stalled(ws: ServerWebSocket<Owner>, unsentBytes: number): void;
  /** The socket closed. Once per socket, last. */
  close(ws: ServerWebSocket<Owner>): void;
}

/** One server's bounds, shared by its sockets. */
/** ServerWebSocket.unsent's reading. */
export interface Unsent {
  buffered: number;
  queued: number;
}

export interface ServerWebSocketLimits {
  /** The largest message accepted (all its fragments), in bytes; 0 for no limit. */
  readonly maxPayload: number;
  /** How long a close of ours waits for the peer's close frame before the socket is destroyed (ws's default: 30 s). */
  readonly closeTimeoutMs: number;
  /** Bytes of our frames (write()) that may wait unsent before the socket is terminated as a peer that does not read; 0 for no bound. */
  readonly maxUnsentBytes: number;
}

/** Reading stopped because the caller's queue of messages is full (its own pace, not the peer's fault). */
export const PAUSED_FOR_QUEUE = 1;
/** Reading stopped because our writes to the socket wait (the peer does not read them). */
export const PAUSED_FOR_WRITES = 2;
export type PauseReason = typeof PAUSED_FOR_QUEUE | typeof PAUSED_FOR_WRITES;

/** ws's default closeTimeout. */
export const CLOSE_TIMEOUT_MS = 30_000;

/** Why the peer's frames were refused (`kind`), and the close code sent for it. */
export class WebSocketProtocolError extends Error {
  constructor(
    message: string,
    readonly closeCode: 1002 | 1007 | 1008 | 1009,
    readonly kind: "protocol" | "invalid-utf8" | "message-too-large" | "length-unsupported" | "too-many-fragments" | "too-many-chunks",
  ) {
    super(message);
    this.name = "WebSocketProtocolError";
  }
}

export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;
export type ReadyState = typeof OPEN | typeof CLOSING | typeof CLOSED;

/** A close frame with no status code: the code a close without one reports (RFC 6455 §7.1.5). */
const NO_STATUS = 1005;
const FIN_BINARY = 0x82;
const PONG = 0x8a;
const PING_FRAME = Buffer.from([0x89, 0x00]);
const INCOMPLETE = 0;
const STOP = -1;
/** 2^53 − 1 as a 64-bit length: its high word's largest value. */
const MAX_SAFE_HIGH_WORD = 0x1f_ffff;
/** ws's server defaults (maxFragments, maxBufferedChunks, maxPendingAutoPongs): a peer that sends a message in more pieces is refused (1008). */
const MAX_FRAGMENTS = 16 * 1024;
const MAX_BUFFERED_CHUNKS = 256 * 1024;
const MAX_PENDING_PONGS = 60;
/** What a close frame's reason may hold: its payload's 125 bytes less the code's 2 (RFC 6455 §5.5). */
const MAX_REASON_BYTES = 123;

const SERVER_WEBSOCKET = Symbol("fleetplane.serverWebSocket");

function wsOf(socket: Duplex): ServerWebSocket | undefined {
  return (socket as unknown as Record<symbol, ServerWebSocket | undefined>)[SERVER_WEBSOCKET];
}

// The socket's listeners, one function each for every socket (no closure per socket).
function onSocketData(this: Duplex, chunk: Buffer): void {
  wsOf(this)?.receive(chunk);
}

/** The peer ended its side without a close frame: ours ends too (ws's behaviour). */
function onSocketEnd(this: Duplex): void {
  const ws = wsOf(this);
  if (ws) ws.readyState = CLOSING;
  this.end();
}

/** A socket error (a reset, a failed write): the socket is destroyed, and 'close' follows. */
function onSocketError(this: Duplex): void {
  this.off("error", onSocketError);
  this.on("error", ignore);
  const ws = wsOf(this);
  if (ws) ws.readyState = CLOSING;
  this.destroy();
}

/** Our writes went out: reading goes on, unless the caller's queue still holds it. */
function onSocketDrain(this: Duplex): void {
  const ws = wsOf(this);
  if (ws === undefined) return;
  // The pause is over: the next one starts its own comparison (tookWritesSinceLastLook).
  unsentAtLook.delete(ws);
  ws.resume(PAUSED_FOR_WRITES);
}

/**
 * Where each socket paused for writes stood at its last liveness look
 * (tookWritesSinceLastLook): a side table, so the few sockets with a slow
 * peer pay for it and not every socket; weak, so a closed one leaves
 * nothing; cleared when the pause ends (onSocketDrain).
 */
const unsentAtLook = new WeakMap<ServerWebSocket<unknown>, Unsent>();

function onSocketClose(this: Duplex): void {
  const ws = wsOf(this);
  (this as unknown as Record<symbol, unknown>)[SERVER_WEBSOCKET] = undefined;
  ws?.closed();
}

function ignore(): void {}

function destroySocket(socket: Duplex): void {
  socket.destroy();
}

/** The codes a close frame may carry (RFC 6455 §7.4; ws's isValidStatusCode). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** A server's control frame (FIN, unmasked) with `payload` (≤ 125 bytes). */
function controlFrame(first: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(2 + payload.length);
  frame[0] = first;
  frame[1] = payload.length;
  payload.copy(frame, 2);
  return frame;
}

/** A close frame: empty without a code, else the code and the reason's UTF-8 (ws's rules and errors). */
function closeFrame(code: number | undefined, reason: string | Buffer | undefined): Buffer {
  if (code === undefined) return controlFrame(0x88, EMPTY);
  if (!isValidCloseCode(code)) throw new TypeError("First argument must be a valid error code number");
  const text = reason === undefined ? EMPTY : typeof reason === "string" ? Buffer.from(reason) : reason;
  if (text.length > MAX_REASON_BYTES) throw new RangeError("The message must not be greater than 123 bytes");
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return controlFrame(0x88, payload);
}

const EMPTY = Buffer.alloc(0);

/**
 * `view` itself, or a copy when it is less than half of the memory it keeps
 * alive. A frame's payload is a view of the read it came in (up to 64 KiB):
 * kept as a fragment, a message or the start of a frame, a small one would
 * pin the whole read — a peer padding each read with pongs around a 1-byte
 * fragment could make one socket hold ~1 GiB under maxPayload (ws keeps such
 * views too).
 */
function unpinned(view: Buffer): Buffer {
  return view.length * 2 < view.buffer.byteLength ? Buffer.from(view) : view;
}

/**
 * `text` cut to what a close frame's reason may hold (123 bytes of UTF-8),
 * at a character's end. close() refuses a longer reason (as ws does), so a
 * caller whose reason comes from elsewhere (a refusal's text) cuts it here.
 */
export function closeReason(text: string): string {
  if (text.length * 3 <= MAX_REASON_BYTES || Buffer.byteLength(text) <= MAX_REASON_BYTES) return text;
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    bytes += Buffer.byteLength(ch);
    if (bytes > MAX_REASON_BYTES) break;
    end += ch.length;
  }
  return text.slice(0, end);
}

/** Unmasks `buf[start, end)` in place; its mask is the four bytes before `start`. */
export function unmask(buf: Buffer, start: number, end: number): void {
  unmaskInto(buf, start, end, buf, start);
}

/** The payload `src[start, end)` unmasked (its mask is the four bytes before `start`) into `dst` from `at`. */
export function unmaskInto(src: Buffer, start: number, end: number, dst: Buffer, at: number): void {
  const m0 = src[start - 4]!;
  const m1 = src[start - 3]!;
  const m2 = src[start - 2]!;
  const m3 = src[start - 1]!;
  if ((m0 | m1 | m2 | m3) === 0 && src === dst && start === at) return;
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
