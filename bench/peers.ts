import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { ensureTool, stopChild } from "../test/support/child-process.js";
import { freePort } from "../test/support/free-port.js";
import type { ServerUnderTest } from "./fleetplane-server.js";

/**
 * The Go peer: a thin OpAMP server of ours on opamp-go's `server` package
 * (tools/go/opamp-go-server), keeping agent state in memory like opamp-go's
 * example server. (opamp-go's example server and OpAMP Commander are
 * built from their repositories: peer-servers.ts.)
 */
export async function startOpampGoServer(): Promise<ServerUnderTest> {
  const binary = process.env.FLEETPLANE_OPAMP_GO_SERVER || (await ensureTool("opamp-go-server", "FLEETPLANE_OPAMP_GO_SERVER"));
  const port = await freePort();
  const child = spawn(binary, ["--listen", `127.0.0.1:${port}`], { stdio: ["ignore", "pipe", "inherit"] });
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("opamp-go-server did not start within 30 s")), 30_000);
    child.once("exit", (code) => reject(new Error(`opamp-go-server exited with ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const event = JSON.parse(line) as { event?: string; endpoint?: string };
      if (event.event === "listening" && event.endpoint) {
        clearTimeout(timer);
        resolve(event.endpoint);
      }
    });
  });
  return {
    name: "opamp-go server (Go)",
    opampWsUrl: endpoint,
    gatewayPid: child.pid!,
    pids: [child.pid!],
    stop: () => stopChild(child, "SIGTERM", 10_000),
  };
}
