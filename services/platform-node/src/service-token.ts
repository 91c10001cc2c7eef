import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/**
 * The shared secret services present to each other's internal listeners
 * (gateway → agent-service → command-service), as a bearer token. Read from
 * a file so it never appears in a process list or an environment dump.
 */
export class ServiceTokenFileError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`service token file ${file}: ${reason}`);
    this.name = "ServiceTokenFileError";
  }
}

/** The token in `file` (surrounding whitespace dropped); at least 16 characters. */
export function readServiceToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new ServiceTokenFileError(file, (err as Error).message);
  }
  if (text.length < 16) throw new ServiceTokenFileError(file, "holds fewer than 16 characters; put a long random secret in it (e.g. openssl rand -hex 32)");
  return text;
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/**
 * Refuses every call whose `authorization` is not "Bearer <token>". Both
 * sides are hashed first so the comparison takes the same time whatever the
 * length or content of what was sent.
 */
export function serviceTokenInterceptor(token: string): Interceptor {
  const expected = digest(token);
  return (next) => async (req) => {
    const given = /^Bearer (.+)$/.exec(req.header.get("authorization") ?? "")?.[1];
    if (given === undefined) throw new ConnectError("the internal API needs the service token (authorization: Bearer …)", Code.Unauthenticated);
    if (!timingSafeEqual(digest(given), expected)) throw new ConnectError("the service token is wrong", Code.Unauthenticated);
    return next(req);
  };
}

/** Sends the token on every call of a client. */
export function serviceTokenClientInterceptor(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}
