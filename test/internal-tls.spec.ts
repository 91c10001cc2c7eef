// TLS on the internal listeners in the distributed topology: gateways →
// agent-service → command-service over https:// (HTTP/2 by ALPN), the
// clients trusting a test CA through --internal-tls-ca, and a renewed
// listener certificate served without a restart.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandKind } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import { bearer } from "./support/admin-key.js";
import { startDistributed, type Distributed } from "./support/distributed.js";
import { eventually } from "./support/eventually.js";
import { WsAgent, description } from "./support/simulated-agent.js";

const dir = mkdtempSync(join(tmpdir(), "fleetplane-internal-tls-"));
const caFile = join(dir, "ca.crt");
const caKeyFile = join(dir, "ca.key");
const certFile = join(dir, "tls.crt");
const keyFile = join(dir, "tls.key");

const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });

/** A throwaway CA, as an operator's (or cert-manager's) would be. */
function writeCa(): void {
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=Fleetplane internal test CA", "-keyout", caKeyFile, "-out", caFile);
}

/** A listener certificate for 127.0.0.1 signed by the CA, replacing the files as cert-manager would (write aside, rename). */
function writeListenerPair(commonName: string): void {
  const csr = join(dir, "tls.csr");
  const ext = join(dir, "san.ext");
  execFileSync("sh", ["-c", `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > ${ext}`]);
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${commonName}`, "-keyout", `${keyFile}.new`, "-out", csr);
  openssl("x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", caKeyFile, "-CAcreateserial", "-days", "1", "-extfile", ext, "-out", `${certFile}.new`);
  renameSync(`${keyFile}.new`, keyFile);
  renameSync(`${certFile}.new`, certFile);
}

/** The CN a listener presents now, and the protocol ALPN picked, checked against the CA (throws if untrusted). */
function presented(port: number, ca: string | undefined): Promise<{ cn: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ...(ca ? { ca } : {}), ALPNProtocols: ["h2"], servername: "localhost" }, () => {
      resolve({ cn: String(socket.getPeerCertificate().subject.CN), alpn: socket.alpnProtocol });
      socket.end();
    });
    socket.once("error", reject);
  });
}

let d: Distributed;
beforeAll(async () => {
  writeCa();
  writeListenerPair("internal-1");
  d = await startDistributed({ internalTls: { caFile, certFile, keyFile } });
}, 120_000);
afterAll(async () => {
  await d?.close();
}, 60_000);

const portOf = (url: string) => Number(new URL(url).port);

describe("internal listeners over TLS", () => {
  it("carry a gateway's reports to agent-service and agent-service's audit records to command-service", async () => {
    expect(d.agentInternalUrl).toMatch(/^https:/);
    expect(d.commandInternalUrl).toMatch(/^https:/);
    // Both listeners present the CA's certificate and speak HTTP/2.
    const ca = readFileSync(caFile, "utf8");
    expect(await presented(portOf(d.agentInternalUrl), ca)).toEqual({ cn: "internal-1", alpn: "h2" });
    expect(await presented(portOf(d.commandInternalUrl), ca)).toEqual({ cn: "internal-1", alpn: "h2" });

    // gateway → agent-service: the agent's report arrives.
    const agent = await WsAgent.connect(d.wsUrl);
    agent.send({ agentDescription: description("over-internal-tls") as never });
    await eventually(() => agent.received[0]);
    const uid = instanceUidToHex(agent.uid);
    await eventually(async () => (await d.agents.getAgent({ instanceUid: uid })).agent?.status?.connected === true);
    // agent-service → command-service: the command is recorded, and its delivery too (the gateway reports it).
    const { pushed } = await d.agents.sendCommand({ instanceUid: uid, kind: CommandKind.RESTART });
    expect(pushed).toBe(true);
    await eventually(() => agent.received.find((m) => m.command));
    await eventually(async () => (await d.commands.listCommands({ instanceUid: uid })).commands[0]?.state === CommandState.DELIVERED);
    await agent.close();
  });

  it("refuse clients that do not trust the CA, and plain HTTP", async () => {
    await expect(presented(portOf(d.agentInternalUrl), undefined)).rejects.toThrow(/self.signed|unable to (get|verify)/i);
    const token = readFileSync(d.tokenFile, "utf8").trim();
    const plain = createClient(AgentGatewayService, createConnectTransport({ baseUrl: d.agentInternalUrl.replace("https:", "http:"), httpVersion: "1.1", interceptors: [bearer(token)] }));
    const code = await plain.releaseGatewayLease({ gatewayId: "nobody" }).then(() => "ok", (e: unknown) => ConnectError.from(e).code);
    expect(code).not.toBe("ok");
    // With the CA and the token, the call is answered.
    const trusted = createClient(AgentGatewayService, createConnectTransport({ baseUrl: d.agentInternalUrl, httpVersion: "2", interceptors: [bearer(token)], nodeOptions: { ca: readFileSync(caFile, "utf8") } }));
    await trusted.releaseGatewayLease({ gatewayId: "nobody" });
    const untokened = createClient(AgentGatewayService, createConnectTransport({ baseUrl: d.agentInternalUrl, httpVersion: "2", nodeOptions: { ca: readFileSync(caFile, "utf8") } }));
    await expect(untokened.releaseGatewayLease({ gatewayId: "nobody" })).rejects.toMatchObject({ code: Code.Unauthenticated });
  });

  it("serve a renewed certificate without a restart, and the topology keeps working", async () => {
    writeListenerPair("internal-2");
    const ca = readFileSync(caFile, "utf8");
    await eventually(async () => (await presented(portOf(d.agentInternalUrl), ca)).cn === "internal-2", 10_000, "agent-service's internal listener to serve the renewed certificate");
    await eventually(async () => (await presented(portOf(d.commandInternalUrl), ca)).cn === "internal-2", 10_000, "command-service's internal listener to serve the renewed certificate");
    // A gateway restarted now connects to agent-service anew (a fresh TLS session on the renewed certificate).
    await d.gateways[0]!.stop();
    await d.gateways[0]!.start();
    const agent = await WsAgent.connect(d.wsUrl);
    agent.send({ agentDescription: description("after-renewal") as never });
    await eventually(() => agent.received[0]);
    const uid = instanceUidToHex(agent.uid);
    await d.agents.sendCommand({ instanceUid: uid, kind: CommandKind.RESTART });
    await eventually(async () => (await d.commands.listCommands({ instanceUid: uid })).commands[0]?.state === CommandState.DELIVERED);
    await agent.close();
  });
});
