import type { IncomingMessage } from "node:http";
import { gunzip } from "node:zlib";
import { InboundMessageTooLargeError } from "./inbound-message-too-large.js";

export class BadEncodingError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BadEncodingError";
  }
}

/**
 * Reads a request body, enforcing the size limit before and after gzip
 * decompression (the spec requires the limit "including after decompression",
 * which is what stops a small gzip bomb from becoming gigabytes).
 */
export async function readRequestBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase().trim();
  if (encoding === "identity" || encoding === "") return raw;
  if (encoding !== "gzip") throw new BadEncodingError(`unsupported Content-Encoding "${encoding}" (use gzip or none)`);
  return new Promise((resolve, reject) => {
    gunzip(raw, { maxOutputLength: limit }, (err, out) => {
      if (!err) return resolve(out);
      // zlib reports an output over maxOutputLength by this code (RangeError).
      if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") return reject(tooLarge(limit));
      reject(new BadEncodingError(`gzip request body does not inflate: ${err.message}`, { cause: err }));
    });
  });
}

function tooLarge(limit: number): InboundMessageTooLargeError {
  return new InboundMessageTooLargeError(limit, "request body");
}
