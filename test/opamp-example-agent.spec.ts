// The stock opamp-go example agent (internal/examples/agent at v0.23.0, not
// our code): it always sends a CSR whose subject names no instance UID ("OpAMP
// Example Client"), and once offered a certificate reconnects presenting it.
// Against Fleetplane with TLS, a client CA and auto approval, it gets its
// certificate and comes back over mTLS, its UID then bound to the certificate.
//
// It cannot send a Bearer header; it authenticates with its enrollment token
// in the server URL (https://agent:<token>@host/…), which Go's HTTP client
// sends as HTTP Basic — accepted when the password is an enrollment token.
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateRequestState } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { writeServerPair } from "./support/client-certificates.js";
import { eventually, startTestServer } from "./support/standalone-server.js";

const binary = process.env.FLEETPLANE_OPAMP_EXAMPLE_AGENT;
if (!binary) {
  console.warn(
    "\n!!! FLEETPLANE_OPAMP_EXAMPLE_AGENT is not set: the stock opamp-go example agent test (CSR -> certificate -> mTLS) is SKIPPED." +
      "\n!!! Build it from an opamp-go checkout at v0.23.0: export FLEETPLANE_OPAMP_EXAMPLE_AGENT=$(bash scripts/build-opamp-example-agent.sh <checkout>) !!!\n",
  );
}

describe.skipIf(!binary)("the stock opamp-go example agent", () => {
  const pair = writeServerPair(mkdtempSync(join(tmpdir(), "fleetplane-example-agent-")));
  let t: Awaited<ReturnType<typeof startTestServer>>;
  let child: ChildProcess | undefined;
  let log = "";
  beforeAll(async () => {
    t = await startTestServer({ agentAuth: "token", csrApproval: "auto", opampTls: pair, clientCaIsCsrCa: true });
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGINT");
      await exited;
    }
    await t?.close();
  });

  it("sends its CSR, gets its certificate (auto approval) and reconnects with it over mTLS, its UID then bound to the certificate", async () => {
    const endpoint = t.httpUrl.replace("https://", `https://agent:${t.agentToken}@`);
    child = spawn(binary!, ["-endpoint", endpoint, "-tls-ca_file", pair.certFile, "-heartbeat", "1s"], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (c: Buffer) => (log += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (log += c.toString()));

    const approved = await eventually(async () => {
      const { requests } = await t.certificates.listCertificateRequests({ state: CertificateRequestState.APPROVED });
      return requests[0];
    }, 30_000, "the example agent's CSR approved");
    expect(approved.subject).toMatch(/CN=OpAMP Example Client/);
    expect(approved.decidedBy).toBe("auto-approval");
    // The server wrote the subject and the urn:uuid SAN itself.
    const issued = new X509Certificate(approved.certificate);
    expect(issued.subjectAltName).toContain(`urn:uuid:`);

    const serial = issued.serialNumber.toLowerCase().replace(/^0+/, "");
    const agent = await eventually(async () => {
      const { agent: a } = await t.agents.getAgent({ instanceUid: approved.instanceUid });
      return a?.metadata?.credential === `cert:${serial}` && a.status?.connected ? a : undefined;
    }, 30_000, "the agent back over mTLS with its certificate").catch((err: Error) => {
      throw new Error(`${err.message}; the example agent's log:\n${log}`);
    });
    expect(agent.status?.connected).toBe(true);
    const { connections } = await t.connections.listConnections({});
    const mine = connections.find((c) => Buffer.from(c.instanceUid).toString("hex") === approved.instanceUid);
    expect(mine?.credential).toBe(`cert:${serial}`);
    expect(mine?.certificateUid).toBe(approved.instanceUid);
    expect(mine?.enrollmentCredential).toMatch(/^token:/);
  });
});
