import { X509Certificate } from "node:crypto";
import { expect, it } from "vitest";
import { CertificateRequestState } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { ServerErrorResponseType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { WsAgent, description } from "../../support/simulated-agent.js";
import { breakSignature, makeCsr } from "../../support/csr.js";
import { eventually } from "../../support/eventually.js";
import type { TestTopology } from "../../support/topology.js";
import { CSR_CAPS, csrRequest, uuidOf } from "./csr-fixtures.js";
import { startOnce } from "./started-topology.js";

/**
 * Under auto approval, in any topology: a valid CSR is answered with its
 * certificate in the very reply; a mismatched one is refused.
 */
export function csrAutoApprovalSuite(start: () => Promise<TestTopology>): void {
  const topology = startOnce(start);

  it("auto approval: the certificate comes in the reply to the CSR", async () => {
    const t = topology();
    const agent = await WsAgent.connect(t.wsUrl);
    agent.send({ capabilities: CSR_CAPS, agentDescription: description("csr-auto") as never });
    await eventually(() => agent.received[0]);
    const { pem } = await makeCsr({ subject: `CN=${hex(agent.uid)}`, algorithm: "rsa" });
    agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(pem) });
    const reply = await eventually(() => agent.received[1]);
    const cert = new X509Certificate(Buffer.from(reply.connectionSettings!.opamp!.certificate!.cert));
    expect(cert.verify(new X509Certificate(t.caCertPem!).publicKey)).toBe(true);
    expect(cert.subject).toBe(`CN=${uuidOf(agent.uid)}`);
    const { requests } = await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid) });
    expect(requests[0]).toMatchObject({ state: CertificateRequestState.APPROVED, decidedBy: "auto-approval" });
    await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands.find((c) => c.kind === "client_certificate" && c.state === CommandState.DELIVERED));
    await agent.close();
  });

  it("auto approval: a stock client's CSR that names no UID (\"OpAMP Example Client\") gets a certificate with the server's subject, from an agent that authenticated", async () => {
    const t = topology();
    if (!t.agentToken) return; // without agent authentication such a CSR is refused (see the next test's rules)
    const agent = await WsAgent.connect(t.wsUrl);
    agent.send({ capabilities: CSR_CAPS, agentDescription: description("csr-stock") as never });
    await eventually(() => agent.received[0]);
    const { pem } = await makeCsr({ subject: "CN=OpAMP Example Client" });
    agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(pem) });
    const reply = await eventually(() => agent.received[1]);
    const cert = new X509Certificate(Buffer.from(reply.connectionSettings!.opamp!.certificate!.cert));
    expect(cert.subject).toBe(`CN=${uuidOf(agent.uid)}`);
    expect(cert.subjectAltName).toContain(`URI:urn:uuid:${uuidOf(agent.uid)}`);
    const { requests } = await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid) });
    expect(requests[0]).toMatchObject({ state: CertificateRequestState.APPROVED, subject: "CN=OpAMP Example Client" });
    await agent.close();
  });

  it("auto approval: a CSR for another UID or with a broken signature is refused", async () => {
    const t = topology();
    const agent = await WsAgent.connect(t.wsUrl);
    agent.send({ capabilities: CSR_CAPS, agentDescription: description("csr-auto") as never });
    await eventually(() => agent.received[0]);
    const other = await makeCsr({ subject: `CN=${uuidOf(uuidv7Bytes())}` });
    agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(other.pem) });
    const refusal = await eventually(() => agent.received[1]);
    expect(refusal.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    const broken = await makeCsr({ subject: `CN=${uuidOf(agent.uid)}` });
    agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(breakSignature(broken.pem)) });
    const second = await eventually(() => agent.received[2]);
    expect(second.errorResponse?.errorMessage).toMatch(/signature does not verify/);
    const { requests: refused } = await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid), state: CertificateRequestState.REFUSED });
    expect(refused).toHaveLength(2);
    await agent.close();
  });
}
