import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/**
 * A loopback port that was free a moment ago, for a server whose port must
 * be known before it starts (a service restarted on the same port). Chosen
 * below the kernel's ephemeral range: a port from that range (what port 0
 * gives) is also what outgoing connections get, and with a whole suite's
 * simulators connecting beside each other one of them took the port
 * between this check and the server's bind (seen in CI: "address already in
 * use" for agent-service-2). Below the range only another check like this
 * one can take it; a port found taken is skipped, and port 0 is the last
 * resort.
 */
export async function freePort(): Promise<number> {
  const [low, high] = belowEphemeral();
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    // A port handed out before may not be bound yet (a topology picks all its ports, then starts its
    // servers): bindable, but taken. Seen in CI: two services of one topology given the same port.
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  return bindAny();
}

/** Ports this process has handed out: never handed out twice. */
const handedOut = new Set<number>();

/** [from, to) below the ephemeral range (Linux: /proc/sys/net/ipv4/ip_local_port_range; 32768 elsewhere). */
function belowEphemeral(): [number, number] {
  let first = 32_768;
  try {
    first = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || first;
  } catch {
    // Not Linux: the IANA dynamic range starts at 49152, so 32768 is below it too.
  }
  const to = Math.max(first, 12_000);
  return [Math.max(10_000, to - 12_000), to];
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function bindAny(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
