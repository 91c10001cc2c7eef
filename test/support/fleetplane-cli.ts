import { spawn } from "node:child_process";
import { join } from "node:path";

const MAIN = join(import.meta.dirname, "../../services/fleetplane/src/main.ts");

/**
 * `fleetplane <args>` as a user runs it: a child process with the admin
 * API's address and key in the environment (FLEETPLANE_SERVER,
 * FLEETPLANE_API_KEY), as a user's shell has them.
 */
export function runFleetplane(args: string[], admin: { apiUrl: string; adminKey: string }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, FLEETPLANE_SERVER: admin.apiUrl, FLEETPLANE_API_KEY: admin.adminKey };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
