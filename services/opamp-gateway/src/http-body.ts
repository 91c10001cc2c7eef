import type { IncomingMessage } from "node:http";
import { pipeline } from "node:stream/promises";
import { createGunzip, createInflate, type Gunzip, type Inflate } from "node:zlib";
import { InboundMessageTooLargeError } from "./inbound-message-too-large.js";

export class BadEncodingError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BadEncodingError";
  }
}

/**
 * Reads a request body, enforcing the size limit on the bytes received and,
 * for a gzip or deflate body, on the inflated bytes (the spec requires the
 * limit "including after decompression", which is what stops a small gzip
 * bomb from becoming gigabytes). The body is inflated as it arrives and
 * refused at the first chunk that passes the limit: neither the inflated
 * message nor the rest of a compressed one is held beyond it.
 */
/**
 * A look at the first inflated bytes of a compressed body while the rest is
 * still being inflated: `check` gets (a copy of) the first `afterBytes` or
 * more, once, and stops the read by throwing. Inflating is where a small
 * body turns into much work; a body the check can already refuse costs no
 * more than its first bytes.
 */
export interface InflatedPrefixCheck {
  afterBytes: number;
  check: (prefix: Uint8Array) => void;
}

export async function readRequestBody(req: IncomingMessage, limit: number, prefixCheck?: InflatedPrefixCheck): Promise<Uint8Array> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase().trim();
  if (encoding === "identity" || encoding === "") return collectWithin(req, limit);
  const inflater = encoding === "gzip" ? createGunzip() : encoding === "deflate" ? createInflate() : undefined;
  if (!inflater) throw new BadEncodingError(`unsupported Content-Encoding "${encoding}" (use gzip, deflate or none)`);
  return inflateWithin(req, inflater, encoding, limit, prefixCheck);
}

async function inflateWithin(req: IncomingMessage, inflater: Gunzip | Inflate, encoding: string, limit: number, prefixCheck?: InflatedPrefixCheck): Promise<Uint8Array> {
  // The received bytes are limited on their way in; an error on either side
  // (too large, the request aborted) destroys the inflater, ending the read.
  const feeding = pipeline(receivedWithin(req, limit), inflater);
  try {
    const inflated = await collectWithin(inflater, limit, prefixCheck);
    await feeding;
    return inflated;
  } catch (err) {
    // Not awaited: the feeding may wait on the rest of a body that we no
    // longer read (it ends when the socket closes after our answer).
    feeding.catch(() => undefined);
    inflater.destroy();
    // The rest of the body is discarded as it comes, so that the client,
    // still sending, gets our answer and its connection stays usable; a
    // request that stopped before its end (ours, cut short) is not left
    // for the parser to wait on.
    req.resume();
    if (err instanceof InboundMessageTooLargeError) throw err;
    if (isZlibError(err)) throw new BadEncodingError(`${encoding} request body does not inflate: ${err.message}`, { cause: err });
    throw err;
  }
}

async function* receivedWithin(req: IncomingMessage, limit: number): AsyncGenerator<Buffer> {
  let size = 0;
  // Stopping early must not destroy the request (and its socket) before our answer: see inflateWithin.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    yield chunk;
  }
}

/** The chunks of `source` as one buffer, refused as soon as they add up to more than `limit`. */
async function collectWithin(source: AsyncIterable<Buffer>, limit: number, prefixCheck?: InflatedPrefixCheck): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  let checked = !prefixCheck;
  for await (const chunk of source) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
    if (!checked && size >= prefixCheck!.afterBytes) {
      checked = true;
      prefixCheck!.check(Buffer.concat(chunks, size));
    }
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/** zlib's errors carry an errno and a Z_ code (Z_DATA_ERROR, Z_BUF_ERROR for a cut stream). */
function isZlibError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string" && (err as NodeJS.ErrnoException).code!.startsWith("Z_");
}

function tooLarge(limit: number): InboundMessageTooLargeError {
  return new InboundMessageTooLargeError(limit, "request body");
}
