import { spawn, type ChildProcess } from "node:child_process";
import { connect as tcpConnect } from "node:net";
import { ensureTool, stopChild } from "./child-process.js";
import { freePort } from "./free-port.js";

let binary: Promise<string> | undefined;

/** The nats-server binary: $FLEETPLANE_NATS_SERVER, or built once by scripts/ensure-tools.sh. */
export function natsServerBinary(): Promise<string> {
  const given = process.env.FLEETPLANE_NATS_SERVER;
  binary ??= given ? Promise.resolve(given) : ensureTool("nats-server", "FLEETPLANE_NATS_SERVER");
  return binary;
}

export interface RunningNats {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * A real nats-server on loopback. Starting again with the same port brings
 * "the same" NATS back after an outage (core NATS keeps no state to lose).
 */
export async function startNats(o: { port?: number } = {}): Promise<RunningNats> {
  const port = o.port ?? (await freePort());
  const child = spawn(await natsServerBinary(), ["-a", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  await waitForInfoLine(port, child, () => stderr);
  return { url: `nats://127.0.0.1:${port}`, port, stop: () => stopChild(child, "SIGTERM", 5_000) };
}

/** A NATS server greets every client with an INFO line: that is our readiness probe. */
async function waitForInfoLine(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, "127.0.0.1");
      s.once("data", (d) => (s.destroy(), resolve(d.toString().startsWith("INFO"))));
      s.once("error", () => resolve(false));
      s.setTimeout(1_000, () => (s.destroy(), resolve(false)));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`nats-server did not answer on port ${port} within 15 s: ${stderr()}`);
}
