import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const main = join(import.meta.dirname, "../services/fleetplane/src/main.ts");

function fleetplane(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", main, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("start-up failures a user can fix name the flag, without a stack trace", () => {
  it("a taken OpAMP port", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as { port: number }).port;
    try {
      const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-cli-"));
      const r = await fleetplane(["standalone", "--opamp-port", String(port), "--api-port", "0", "--data-dir", dataDir, "--no-console"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`fleetplane: cannot listen on 127.0.0.1:${port} (--opamp-port): the address is already in use`);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack frames
    } finally {
      taken.close();
    }
  });

  it("a data directory that cannot be made", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleetplane-cli-"));
    writeFileSync(join(dir, "file"), "");
    const dataDir = join(dir, "file", "data");
    const r = await fleetplane(["standalone", "--opamp-port", "0", "--api-port", "0", "--data-dir", dataDir, "--no-console"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`fleetplane: --data-dir ${dataDir}: cannot use it`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("standalone --help lists the other commands too", async () => {
    const r = await fleetplane(["standalone", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--opamp-port");
    for (const command of ["gateway", "agent-service", "command-service", "sim"]) expect(r.stdout).toMatch(new RegExp(`^  ${command}\\s`, "m"));
  });
});
