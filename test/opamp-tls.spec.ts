// TLS on the OpAMP port: the opamp-go client over wss:// and https:// with
// an enrollment token, and a renewed certificate served without a restart.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startTestServer } from "./support/standalone-server.js";

const dir = mkdtempSync(join(tmpdir(), "fleetplane-opamp-tls-"));
const certFile = join(dir, "tls.crt");
const keyFile = join(dir, "tls.key");
const binary = process.env.FLEETPLANE_OPAMP_GO_AGENT;

/** A fresh self-signed pair for 127.0.0.1, replacing the files as cert-manager would (write aside, rename). */
function writePair(commonName: string): void {
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
    "-subj", `/CN=${commonName}`, "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout", `${keyFile}.new`, "-out", `${certFile}.new`,
  ], { stdio: "ignore" });
  renameSync(`${keyFile}.new`, keyFile);
  renameSync(`${certFile}.new`, certFile);
}

/** The subject CN of the certificate the OpAMP port presents now. */
function presentedCn(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] }, () => {
      resolve(String(socket.getPeerCertificate().subject.CN));
      socket.end();
    });
    socket.once("error", reject);
  });
}

function runAgent(url: string, token: string): { events: Array<{ event: string; uid?: string }>; stop: () => Promise<void> } {
  const child: ChildProcess = spawn(binary!, ["--url", url, "--token", token, "--ca-file", certFile, "--heartbeat", "1", "--polling-interval", "0.3", "--duration", "30"], { stdio: ["ignore", "pipe", "pipe"] });
  const events: Array<{ event: string; uid?: string }> = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    try {
      events.push(JSON.parse(line));
    } catch {
      /* not an event */
    }
  });
  child.stderr!.resume();
  return {
    events,
    stop: () => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once("exit", () => resolve()), child.kill("SIGTERM")))),
  };
}

let t: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  writePair("first.test");
  t = await startTestServer({ opampTls: { certFile, keyFile } });
});
afterAll(async () => {
  await t?.close();
});

describe("TLS on the OpAMP port (--tls-cert, --tls-key)", () => {
  it("serves wss:// and https:// on one port", () => {
    expect(t.wsUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/v1\/opamp$/);
    expect(t.httpUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\/opamp$/);
  });

  it.skipIf(!binary).each(["wss", "https"] as const)("takes the opamp-go client over %s, with its enrollment token", async (scheme) => {
    const agent = runAgent(scheme === "wss" ? t.wsUrl : t.httpUrl, t.agentToken!);
    try {
      const started = await eventually(() => agent.events.find((e) => e.event === "started"), 15_000, "agent start");
      await eventually(() => agent.events.find((e) => e.event === "connected"), 15_000, "connected over TLS");
      const stored = await eventually(async () => (await t.agents.getAgent({ instanceUid: String(started.uid) })).agent, 15_000, "the agent stored");
      expect(stored.metadata?.credential).toMatch(/^token:/);
      expect(stored.status?.connected).toBe(true);
    } finally {
      await agent.stop();
    }
  });

  it("serves a renewed certificate without a restart", async () => {
    expect(await presentedCn(t.server.opampPort)).toBe("first.test");
    writePair("second.test");
    await eventually(async () => (await presentedCn(t.server.opampPort)) === "second.test", 10_000, "the renewed certificate");
  });
});
