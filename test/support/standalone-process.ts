import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { eventually } from "./eventually.js";

const MAIN = join(import.meta.dirname, "../../services/fleetplane/src/main.ts");

/** `fleetplane standalone` as a child process, and what its start-up said. */
export interface StandaloneProcess {
  child: ChildProcess;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  opampUrl: string;
  apiUrl: string;
  /** The admin key its banner showed (a fresh data directory has none, so one is made). */
  adminKey: string;
}

/**
 * Starts `fleetplane standalone <args>` (give it --data-dir, and ports 0) and
 * waits for its "running" log line (stdout) and its admin key banner (stderr).
 */
export async function startStandaloneProcess(args: string[], startTimeoutMs = 60_000): Promise<StandaloneProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "standalone", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let adminKey = "";
  createInterface({ input: child.stderr! }).on("line", (line) => (adminKey ||= /Admin key:\s+(fpk_\S+)/.exec(line)?.[1] ?? ""));
  const { opampUrl, apiUrl } = await new Promise<{ opampUrl: string; apiUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fleetplane standalone ${args.join(" ")} did not start within ${startTimeoutMs / 1000} s`)), startTimeoutMs);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; opamp?: string; api?: string };
      if (entry.msg === "Fleetplane standalone is running") {
        clearTimeout(timer);
        resolve({ opampUrl: entry.opamp!, apiUrl: entry.api! });
      }
    });
  });
  await eventually(() => adminKey || undefined, 10_000, "the admin key banner");
  return { child, exited, opampUrl, apiUrl, adminKey };
}
