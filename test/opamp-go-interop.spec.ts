import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { CertificateRequestState } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { eventually, startTestServer } from "./support/standalone-server.js";
import { agentTokenFor } from "./support/agent-tokens.js";

/**
 * The opamp-go reference client (our small harness around its `client`
 * package, tools/go/opamp-go-agent) against a real standalone server.
 * scripts/test-all.sh builds it and sets FLEETPLANE_OPAMP_GO_AGENT.
 */
const binary = process.env.FLEETPLANE_OPAMP_GO_AGENT;
if (!binary) console.warn("\n!!! FLEETPLANE_OPAMP_GO_AGENT is not set (no Go toolchain?): opamp-go interoperability tests are SKIPPED !!!\n");

type Event = { event: string; [k: string]: unknown };

function runAgent(url: string, extra: string[] = []) {
  const token = agentTokenFor(url);
  const child: ChildProcess = spawn(binary!, ["--url", url, ...(token ? ["--token", token] : []), "--heartbeat", "1", "--polling-interval", "0.3", "--duration", "30", "--fail-config-containing", "INVALID", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  const events: Event[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    try {
      events.push(JSON.parse(line) as Event);
    } catch {
      /* not an event line */
    }
  });
  child.stderr!.resume();
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  return { events, stop };
}

describe.skipIf(!binary).each(["ws", "http"] as const)("the opamp-go client over %s", (scheme) => {
  let t: Awaited<ReturnType<typeof startTestServer>>;
  beforeAll(async () => {
    // opamp-go's HTTP client stops without a goodbye: the silence timeout ends it.
    // (It polls every 0.3 s and heartbeats every 1 s: three missed 1 s intervals mean it is gone.)
    t = await startTestServer({ heartbeatMissedIntervals: 3, defaultHeartbeatIntervalMs: 1_000 });
  });
  afterAll(async () => {
    await t?.server.close();
  });

  it("connects, describes itself, applies a remote config and reports Applied, fails a bad one, and disconnects", async () => {
    const url = scheme === "ws" ? t.wsUrl : t.httpUrl;
    const agent = runAgent(url);
    try {
      const started = await eventually(() => agent.events.find((e) => e.event === "started"), 15_000, "agent start");
      const uid = String(started.uid);
      await eventually(() => agent.events.find((e) => e.event === "connected"), 15_000, "connected");
      const described = await eventually(async () => {
        const { agent: a } = await t.agents.getAgent({ instanceUid: uid });
        return a?.metadata?.description ? a : undefined;
      }, 15_000, "agent description stored");
      expect(described.status?.connected).toBe(true);

      await t.agents.setRemoteConfig({ instanceUid: uid, files: { "": { content: { case: "text", value: "receivers: {}\n" }, contentType: "text/yaml" } }, requestedBy: "interop" });
      const rc = await eventually(() => agent.events.find((e) => e.event === "remote_config"), 15_000, "remote config received");
      expect(rc.body).toBe("receivers: {}\n");
      const applied = await eventually(async () => {
        const { agent: a } = await t.agents.getAgent({ instanceUid: uid });
        return a?.spec?.remoteConfig?.data?.status === RemoteConfigState.APPLIED ? a : undefined;
      }, 15_000, "config Applied");
      expect(new TextDecoder().decode(applied.status!.effectiveConfig!.configMap!.configMap[""]!.body)).toBe("receivers: {}\n");

      await t.agents.setRemoteConfig({ instanceUid: uid, files: { "": { content: { case: "text", value: "INVALID: true\n" } } } });
      const failed = await eventually(async () => {
        const { agent: a } = await t.agents.getAgent({ instanceUid: uid });
        return a?.spec?.remoteConfig?.data?.status === RemoteConfigState.FAILED ? a : undefined;
      }, 15_000, "config Failed");
      expect(failed.spec!.remoteConfig!.lastErrorMessage).toMatch(/INVALID/);
      // The audit trail follows asynchronously.
      await eventually(async () => {
        const { commands } = await t.commands.listCommands({ instanceUid: uid });
        return commands.map((c) => c.state).join() === [CommandState.FAILED, CommandState.APPLIED].join();
      }, 10_000, "audit FAILED then APPLIED");

      await agent.stop();
      await eventually(async () => (await t.agents.getAgent({ instanceUid: uid })).agent?.status?.connected === false, 15_000, "disconnected");
    } finally {
      await agent.stop();
    }
  });
});

describe.skipIf(!binary)("the opamp-go client's CSR flow", () => {
  let t: Awaited<ReturnType<typeof startTestServer>>;
  beforeAll(async () => {
    t = await startTestServer({ csrApproval: "manual" });
  });
  afterAll(async () => {
    await t?.server.close();
  });

  it("sends a CSR naming its UID; once approved it receives a certificate for its own key that Go's x509 verifies for clientAuth, and reports it APPLIED", async () => {
    const agent = runAgent(t.wsUrl, ["--request-certificate"]);
    try {
      const started = await eventually(() => agent.events.find((e) => e.event === "started"), 15_000, "agent start");
      const uid = String(started.uid);
      const request = await eventually(async () => (await t.certificates.listCertificateRequests({ instanceUid: uid })).requests[0], 15_000, "CSR recorded");
      expect(request.state).toBe(CertificateRequestState.PENDING);
      expect(request.subject).toBe(`CN=${String(started.uuid)}`);
      // Until approval the agent may get OpAMP settings (the server's
      // heartbeat offer) but no certificate.
      const certificateOffer = (e: (typeof agent.events)[number]) => e.event === "opamp_connection_settings" && e.cert_subject !== undefined;
      expect(agent.events.filter(certificateOffer)).toEqual([]);

      const { request: approved } = await t.certificates.approveCertificateRequest({ id: request.id, approvedBy: "interop" });
      const offered = await eventually(() => agent.events.find(certificateOffer), 15_000, "certificate offered");
      expect(offered.error).toBeUndefined();
      expect(offered.cert_verified).toBe(true);
      expect(offered.cert_subject).toBe(`CN=${String(started.uuid)}`);
      // Compared as numbers: the harness prints the serial's minimal bytes in
      // hex (a leading 0x0N byte keeps its zero nibble), the API its own hex
      // form; stripping zeros from one side only failed one run in eight.
      expect(BigInt(`0x${String(offered.cert_serial)}`)).toBe(BigInt(`0x${approved!.serialNumber}`));
      expect(offered.endpoint).toBe(t.wsUrl);
      await eventually(async () => {
        const { commands } = await t.commands.listCommands({ instanceUid: uid });
        return commands.find((c) => c.kind === "client_certificate" && c.state === CommandState.APPLIED);
      }, 15_000, "certificate APPLIED in the audit");
    } finally {
      await agent.stop();
    }
  });
});
