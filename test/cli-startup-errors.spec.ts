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

describe("refusals to run unsafely", () => {
  it("--admin-auth none anywhere but loopback", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-cli-"));
    const r = await fleetplane(["standalone", "--api-host", "0.0.0.0", "--api-port", "0", "--opamp-port", "0", "--admin-auth", "none", "--data-dir", dataDir, "--no-console"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("fleetplane: --admin-auth none is allowed only when the admin API listens on loopback, not on 0.0.0.0");
  });

  it("--agent-auth none on an OpAMP address other than loopback, unless --allow-unauthenticated-agents", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-cli-"));
    const r = await fleetplane(["standalone", "--opamp-host", "0.0.0.0", "--opamp-port", "0", "--api-port", "0", "--agent-auth", "none", "--data-dir", dataDir, "--no-console"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("fleetplane: --agent-auth none on 0.0.0.0 would let anyone who reaches the OpAMP port be any agent");
    const gateway = await fleetplane(["gateway", "--host", "0.0.0.0", "--port", "0", "--agent-auth", "none"]);
    expect(gateway.code).toBe(2);
    expect(gateway.stderr).toContain("--allow-unauthenticated-agents");
  });

  it("client certificates asked for without a client CA to check them, or a client CA without TLS", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-cli-"));
    const mtls = await fleetplane(["standalone", "--opamp-port", "0", "--api-port", "0", "--agent-auth", "mtls", "--data-dir", dataDir, "--no-console"]);
    expect(mtls.code).toBe(2);
    expect(mtls.stderr).toContain("fleetplane: --agent-auth mtls needs client certificates to check: give --tls-cert, --tls-key and --agent-client-ca");
    const ca = await fleetplane(["gateway", "--port", "0", "--agent-client-ca", join(dataDir, "ca.pem")]);
    expect(ca.code).toBe(2);
    expect(ca.stderr).toContain("--agent-client-ca needs TLS on the OpAMP port");
    const mode = await fleetplane(["gateway", "--port", "0", "--agent-auth", "cert"]);
    expect(mode.stderr).toContain("--agent-auth must be one of none, token, mtls, token+mtls, got cert");
  });

  it("an internal listener off loopback without the service token", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-cli-"));
    const r = await fleetplane(["agent-service", "--port", "0", "--internal-host", "0.0.0.0", "--data-dir", dataDir, "--no-console"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("fleetplane: the internal listener on 0.0.0.0 needs --internal-token-file");
  });

  it("a service token file that is too short", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleetplane-cli-"));
    writeFileSync(join(dir, "token"), "short\n");
    const r = await fleetplane(["gateway", "--port", "0", "--internal-token-file", join(dir, "token")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("holds fewer than 16 characters");
  });
});

describe("fleetplane admin create-key", () => {
  it("prints a key once to stdout, and refuses a name that is taken", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-cli-"));
    const made = await fleetplane(["admin", "create-key", "--name", "ops", "--data-dir", dataDir]);
    expect(made.code).toBe(0);
    expect(made.stdout).toMatch(/^fpk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n$/);
    expect(made.stderr).toContain('API key "ops"');
    expect(made.stderr).not.toContain(made.stdout.trim());
    const again = await fleetplane(["admin", "create-key", "--name", "ops", "--data-dir", dataDir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('an API key named "ops" exists already');
  });
});

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
