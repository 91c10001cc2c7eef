import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");

/** Signals a child (SIGTERM by default), SIGKILLs it after `graceMs`, and waits for it to exit. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Runs scripts/ensure-tools.sh for one tool (built once, cached) and resolves
 * its binary path; build progress goes to our stderr. `envVar` names the
 * variable that can point at a binary instead.
 */
export function ensureTool(tool: string, envVar: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const script = join(ROOT, "scripts", "ensure-tools.sh");
    const child = spawn("bash", [script, tool], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => {
      const path = out.trim();
      if (code === 0 && path) resolve(path);
      else reject(new Error(`${script} ${tool} failed (exit ${code}); run it by hand to see why, or set ${envVar} to a ${tool} binary`));
    });
  });
}
