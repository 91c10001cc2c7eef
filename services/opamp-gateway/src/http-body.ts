import type { IncomingMessage } from "node:http";
import { gunzip } from "node:zlib";

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds the ${limit}-byte limit`);
    this.name = "BodyTooLargeError";
  }
}

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
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLargeError(limit);
    chunks.push(chunk);
  }
  const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase().trim();
  if (encoding === "identity" || encoding === "") return raw;
  if (encoding !== "gzip") throw new BadEncodingError(`unsupported Content-Encoding "${encoding}" (use gzip or none)`);
  return new Promise((resolve, reject) => {
    gunzip(raw, { maxOutputLength: limit }, (err, out) => {
      if (!err) return resolve(out);
      if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || /Cannot create a Buffer larger/.test(err.message)) {
        return reject(new BodyTooLargeError(limit));
      }
      reject(new BadEncodingError(`gzip request body does not inflate: ${err.message}`, { cause: err }));
    });
  });
}
