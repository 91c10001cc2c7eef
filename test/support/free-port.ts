import { createServer } from "node:net";

/**
 * A loopback port that was free a moment ago. Another process may take it
 * before the caller binds it, so prefer port 0 when a server can report the
 * port it got; use this when the port must be known before the server starts.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
