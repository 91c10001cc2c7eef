import type { Interceptor } from "@connectrpc/connect";

/** Sends `authorization: Bearer <key>` on every call: how every test client reaches the admin API. */
export function bearer(key: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  };
}
