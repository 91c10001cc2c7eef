// TLS on the admin port: HTTP/2 (by ALPN) and HTTP/1.1 on one port, and a
// renewed certificate served without a restart.
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { generateCertificateAuthority } from "@fleetplane/agent-service";
import { silentLogger } from "@fleetplane/platform";
import { startStandalone, type Standalone } from "@fleetplane/server";
import { bearer } from "./support/admin-key.js";
import { eventually } from "./support/eventually.js";

const dir = mkdtempSync(join(tmpdir(), "fleetplane-tls-"));
const certFile = join(dir, "tls.crt");
const keyFile = join(dir, "tls.key");

/** Writes a fresh self-signed pair, replacing the files as cert-manager would (write aside, rename). */
async function writePair(commonName: string): Promise<void> {
  const { caCertPem, caKeyPem } = await generateCertificateAuthority({ commonName, validityDays: 1 });
  writeFileSync(`${certFile}.new`, caCertPem);
  writeFileSync(`${keyFile}.new`, caKeyPem);
  renameSync(`${keyFile}.new`, keyFile);
  renameSync(`${certFile}.new`, certFile);
}

/** The subject CN of the certificate the server presents, and the protocol ALPN chose, over HTTP/1.1. */
function http1Get(url: string): Promise<{ status: number; cn: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions & { ALPNProtocols: string[] } = { rejectUnauthorized: false, ALPNProtocols: ["http/1.1"], agent: false };
    const req = https.get(url, options, (res) => {
      const socket = res.socket as TLSSocket;
      resolve({ status: res.statusCode!, cn: String(socket.getPeerCertificate().subject.CN), alpn: socket.alpnProtocol });
      res.resume();
    });
    req.once("error", reject);
  });
}

let server: Standalone;
let base: string;
beforeAll(async () => {
  await writePair("first.test");
  server = await startStandalone({
    dataDir: join(dir, "data"),
    host: "127.0.0.1",
    opampPort: 0,
    apiHost: "127.0.0.1",
    apiPort: 0,
    console: false,
    access: { auth: "on", tls: { certFile, keyFile } },
    logger: silentLogger(),
  });
  base = `https://127.0.0.1:${server.apiPort}`;
});
afterAll(async () => {
  await server?.close();
});

describe("the admin API over TLS", () => {
  it("speaks HTTP/1.1 and HTTP/2 (ALPN) on one port; RPCs work over h2 with a key", async () => {
    expect(server.apiScheme).toBe("https");
    const h1 = await http1Get(`${base}/healthz`);
    expect(h1).toMatchObject({ status: 200, alpn: "http/1.1", cn: "first.test" });
    const session = http2.connect(base, { rejectUnauthorized: false });
    try {
      await new Promise<void>((resolve, reject) => session.once("connect", () => resolve()).once("error", reject));
      expect((session.socket as TLSSocket).alpnProtocol).toBe("h2");
    } finally {
      session.close();
    }
    const agents = createClient(AgentService, createConnectTransport({ baseUrl: base, httpVersion: "2", nodeOptions: { rejectUnauthorized: false }, interceptors: [bearer(server.firstAdminKey!)] }));
    expect((await agents.getFleetSummary({})).summary?.total).toBe(0n);
  });

  it("serves a renewed certificate without a restart", async () => {
    await writePair("renewed.test");
    await eventually(async () => (await http1Get(`${base}/healthz`)).cn === "renewed.test", 10_000, "the renewed certificate served");
  });
});
