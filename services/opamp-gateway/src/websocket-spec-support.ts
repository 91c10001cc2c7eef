import type * as http from "node:http";
import type { Duplex } from "node:stream";
import { afterEach } from "vitest";

/**
 * For the specs of the server-side WebSocket (server-websocket.spec.ts,
 * websocket-handshake.spec.ts, whole-binary-frames.spec.ts): client frames
 * as bytes, random streams of them from a deterministic generator (so a
 * failing seed can be replayed), and the cleanup of the servers they start.
 * Not used by the gateway itself.
 */

/**
 * The servers and upgraded sockets a spec file opens, closed after each
 * test: http.Server.close neither ends nor waits for an upgraded socket (it
 * is no longer the server's), so those are destroyed first.
 */
export function closedAfterEach(): { servers: http.Server[]; upgraded: Duplex[] } {
  const opened = { servers: [] as http.Server[], upgraded: [] as Duplex[] };
  afterEach(async () => {
    for (const socket of opened.upgraded.splice(0)) socket.destroy();
    for (const server of opened.servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
  return opened;
}

/** A deterministic generator (xorshift32) over [0, 1). */
export function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

export interface FrameOptions {
  /** The mask; null for an unmasked frame (a protocol error from a client). Default 12 34 56 78. */
  mask?: Buffer | null;
  /** The length encoding; by default the shortest. */
  lengthBits?: 7 | 16 | 64;
  /** The length the header claims, when it is not the payload's (a header over maxPayload, followed by a few bytes only). */
  claimedLength?: bigint;
}

/** One RFC 6455 frame as a client writes it: `first` is FIN, RSV and opcode. */
export function frame(first: number, payload: Buffer, opts: FrameOptions = {}): Buffer {
  const n = opts.claimedLength ?? BigInt(payload.length);
  const bits = opts.lengthBits ?? (n < 126n ? 7 : n < 0x10000n ? 16 : 64);
  const mask = opts.mask === undefined ? Buffer.from([0x12, 0x34, 0x56, 0x78]) : opts.mask;
  const head = Buffer.alloc(2 + (bits === 16 ? 2 : bits === 64 ? 8 : 0));
  head[0] = first;
  head[1] = (mask ? 0x80 : 0) | (bits === 7 ? Number(n) : bits === 16 ? 126 : 127);
  if (bits === 16) head.writeUInt16BE(Number(n), 2);
  if (bits === 64) head.writeBigUInt64BE(n, 2);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat(mask ? [head, mask, body] : [head, body]);
}

export function randomBytes(next: () => number, n: number): Buffer {
  const bytes = Buffer.alloc(n);
  for (let i = 0; i < n; i++) bytes[i] = Math.floor(next() * 256);
  return bytes;
}

/** 0 to `max` random bytes. */
export function randomPayload(next: () => number, max: number): Buffer {
  return randomBytes(next, Math.floor(next() * (max + 1)));
}

/** Bytes that are often valid UTF-8 and often nearly so: lead bytes, continuation bytes, surrogates, overlongs, code points past U+10FFFF, cut sequences. */
export function utf8ish(next: () => number, max: number): Buffer {
  const pieces = [
    "a", "é", "€", "😀", "\u0000", "\uffff",
    "c0 80", "e0 80 80", "ed a0 80", "ed 9f bf", "f4 8f bf bf", "f4 90 80 80", "f5 80 80 80", "f0 8f bf bf", "f0 90 80 80",
    "80", "bf", "c2", "e2 82", "f0 9f 98", "fe", "ff", "c1 bf", "c2 80",
  ].map((p) => (/^[0-9a-f]{2}( [0-9a-f]{2})*$/.test(p) ? Buffer.from(p.replaceAll(" ", ""), "hex") : Buffer.from(p)));
  const out: Buffer[] = [];
  let length = 0;
  const target = Math.floor(next() * (max + 1));
  while (length < target) {
    // Mostly valid pieces, so a whole text is valid often enough to be delivered.
    const piece = next() < 0.85 ? pieces[Math.floor(next() * 6)]! : pieces[Math.floor(next() * pieces.length)]!;
    out.push(piece);
    length += piece.length;
  }
  return Buffer.concat(out);
}

/** Close codes a client might send: valid ones and every kind of invalid one. */
const CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1011, 1012, 1014, 3000, 4000, 4999, 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535];

export interface StreamLimits {
  maxPayload: number;
}

/**
 * A frame a client might send, mostly well-formed: binary and text (whole or
 * fragmented, control frames between fragments), pings and pongs with
 * payloads, close frames with and without a code and reason, and protocol
 * errors: RSV bits, bad opcodes, unmasked frames, over-long encodings,
 * control frames over 125 bytes or without FIN, lengths over maxPayload or
 * 2^53 − 1, invalid UTF-8.
 */
export function randomFrame(next: () => number, limits: StreamLimits): Buffer {
  const max = limits.maxPayload;
  const mask = next() < 0.1 ? Buffer.alloc(4) : randomBytes(next, 4);
  const sizes = [0, 1, 3, 4, 5, 27, 125, 126, 127, 300, 65_535, 65_536, max - 1, max, max + 1];
  const size = () => (next() < 0.85 ? Math.floor(next() * 140) : sizes[Math.floor(next() * sizes.length)]!);
  const r = next();
  if (r < 0.3) return frame(0x82, randomPayload(next, size()), { mask });
  if (r < 0.33) return frame(0x82, randomPayload(next, 100), { mask, lengthBits: next() < 0.5 ? 16 : 64 }); // over-long length encodings ws accepts
  if (r < 0.38) return frame(0x81, utf8ish(next, 40), { mask });
  if (r < 0.4) return frame(0x81, Buffer.from("héllo".repeat(Math.floor(next() * 30))), { mask });
  const fragment = () => (next() < 0.5 ? utf8ish(next, 20) : randomPayload(next, 40));
  if (r < 0.47) return frame([0x01, 0x02, 0x00][Math.floor(next() * 3)]!, fragment(), { mask }); // a fragment: a start or a continuation
  if (r < 0.52) return frame(0x80, fragment(), { mask }); // the last continuation
  if (r < 0.6) return frame(0x89, randomPayload(next, next() < 0.9 ? 20 : 125), { mask }); // ping
  if (r < 0.66) return frame(0x8a, randomPayload(next, 20), { mask }); // pong
  if (r < 0.7) {
    // A close frame: no payload, a code alone, a code and a reason (sometimes not UTF-8), or one byte (a protocol error).
    const k = next();
    if (k < 0.2) return frame(0x88, Buffer.alloc(0), { mask });
    if (k < 0.25) return frame(0x88, randomBytes(next, 1), { mask });
    const code = Buffer.alloc(2);
    code.writeUInt16BE(CLOSE_CODES[Math.floor(next() * CLOSE_CODES.length)]!);
    if (k < 0.5) return frame(0x88, code, { mask });
    return frame(0x88, Buffer.concat([code, utf8ish(next, next() < 0.9 ? 20 : 123)]), { mask });
  }
  if (r < 0.72) return frame(0x82, randomPayload(next, 20), { mask: null }); // unmasked
  if (r < 0.74) return frame([0xc2, 0xa2, 0x92, 0xc1, 0xc9, 0x40, 0xb2][Math.floor(next() * 7)]!, randomPayload(next, 20), { mask }); // RSV1/2/3
  if (r < 0.76) return frame(0x80 | [3, 4, 5, 6, 7, 11, 12, 13, 14, 15][Math.floor(next() * 10)]!, randomPayload(next, 20), { mask }); // an unknown opcode
  if (r < 0.78) return frame([0x09, 0x0a, 0x08][Math.floor(next() * 3)]!, randomPayload(next, 5), { mask }); // a control frame without FIN
  if (r < 0.8) return frame([0x89, 0x8a, 0x88][Math.floor(next() * 3)]!, randomPayload(next, 130), { mask, lengthBits: next() < 0.5 ? 16 : 7 }); // a control frame that may be over 125 bytes
  if (r < 0.83) {
    // A header over maxPayload (or over 2^53 − 1) followed by a few bytes: refused on the header.
    const claims = [BigInt(max + 1), 1n << 40n, (1n << 53n) - 1n, 1n << 53n, (1n << 64n) - 1n, BigInt(max)];
    const claimed = claims[Math.floor(next() * claims.length)]!;
    return frame(next() < 0.8 ? 0x82 : 0x00, randomBytes(next, 8), { mask, claimedLength: claimed, lengthBits: claimed < 0x10000n && next() < 0.5 ? 16 : 64 });
  }
  if (r < 0.85) return frame(0x82, Buffer.alloc(0), { mask }); // empty
  if (r < 0.87) {
    // A message of two frames each under maxPayload: the whole exactly at it, or just over it.
    const half = Math.floor(max / 2);
    return Buffer.concat([frame(0x02, randomBytes(next, half), { mask }), frame(0x80, randomBytes(next, max - half + Math.floor(next() * 2)), { mask })]);
  }
  return frame(0x82, randomPayload(next, 20), { mask });
}

/** `frames` cut into chunks: on frame edges, two frames in one chunk, frames cut anywhere, and now and then everything regrouped at random points. */
export function randomChunks(next: () => number, frames: Buffer[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (const f of frames) {
    const r = next();
    if (r < 0.5 || f.length < 2) chunks.push(f);
    else if (r < 0.7 && chunks.length > 0) chunks[chunks.length - 1] = Buffer.concat([chunks.at(-1)!, f]);
    else {
      const cut = 1 + Math.floor(next() * (f.length - 1));
      chunks.push(f.subarray(0, cut), f.subarray(cut));
    }
  }
  if (next() < 0.4) {
    const all = Buffer.concat(chunks);
    const out: Buffer[] = [];
    const most = next() < 0.3 ? 8 : 300;
    for (let at = 0; at < all.length; ) {
      const n = 1 + Math.floor(next() * Math.min(most, all.length - at));
      out.push(all.subarray(at, at + n));
      at += n;
    }
    return out;
  }
  return chunks;
}

/** The bytes cut into single bytes. */
export function byteByByte(bytes: Buffer): Buffer[] {
  return Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
}
