import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CertificateRequestState } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { ConnectionSettingsStatuses, ServerCapabilities, ServerErrorResponseType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { WsAgent, description, hasFlag } from "../../support/simulated-agent.js";
import { makeCsr } from "../../support/csr.js";
import { eventually } from "../../support/eventually.js";
import { CSR_CAPS, csrRequest, uuidOf } from "./csr-fixtures.js";
import type { Topology } from "./started-topology.js";

/** Under manual approval an agent's CSR waits for an admin, who approves it (the certificate is offered) or denies it. */
export function certificateRequestsBehaviour(topology: Topology): void {
  describe("certificate signing requests (manual approval)", () => {
    it("a CSR naming its agent waits for approval, then the certificate is offered, chains to the CA, and the agent's report settles the audit", async () => {
      const t = topology();
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ capabilities: CSR_CAPS, agentDescription: description("csr") as never });
      const first = await eventually(() => agent.received[0]);
      expect(hasFlag(first.capabilities, ServerCapabilities.ServerCapabilities_AcceptsConnectionSettingsRequest)).toBe(true);

      const { pem } = await makeCsr({ subject: `CN=${uuidOf(agent.uid)}` });
      agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(pem) });
      await eventually(() => agent.received[1]);
      expect(agent.received[1]!.connectionSettings).toBeUndefined();
      expect(agent.received[1]!.errorResponse).toBeUndefined();
      const { requests } = await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid) });
      expect(requests.map((r) => r.state)).toEqual([CertificateRequestState.PENDING]);
      expect(requests[0]!.subject).toBe(`CN=${uuidOf(agent.uid)}`);
      const { requests: pending } = await t.certificates.listCertificateRequests({ state: CertificateRequestState.PENDING });
      expect(pending.map((r) => r.id)).toContain(requests[0]!.id);
      const { agent: waiting } = await t.agents.getAgent({ instanceUid: hex(agent.uid) });
      expect(waiting?.status?.connectionSettingsRequest?.opamp?.certificateRequest?.csr).toBeDefined();

      const approved = await t.certificates.approveCertificateRequest({ id: requests[0]!.id, approvedBy: "e2e-admin" });
      expect(approved.pushed).toBe(true);
      expect(approved.request?.state).toBe(CertificateRequestState.APPROVED);
      const offer = await eventually(() => agent.received.find((m) => m.connectionSettings?.opamp?.certificate)?.connectionSettings);
      const tls = offer.opamp!.certificate!;
      expect(tls.privateKey).toHaveLength(0); // the agent holds its key
      expect(offer.opamp!.destinationEndpoint).not.toBe("");
      const cert = new X509Certificate(Buffer.from(tls.cert));
      expect(cert.verify(new X509Certificate(t.caCertPem!).publicKey)).toBe(true);
      expect(Buffer.from(tls.caCert).toString().trim()).toBe(t.caCertPem!.trim());
      expect(cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]); // clientAuth
      expect(cert.serialNumber.toLowerCase()).toBe(approved.request!.serialNumber.toLowerCase());

      agent.send({
        capabilities: CSR_CAPS,
        connectionSettingsStatus: { $typeName: "opamp.proto.v1.ConnectionSettingsStatus", lastConnectionSettingsHash: offer.hash, status: ConnectionSettingsStatuses.ConnectionSettingsStatuses_APPLIED, errorMessage: "" },
      });
      const audited = await eventually(async () => (await t.commands.listCommands({ instanceUid: hex(agent.uid) })).commands.find((c) => c.kind === "client_certificate" && c.state === CommandState.APPLIED), 10_000, "certificate applied in the audit");
      expect(audited.requestedBy).toBe(t.adminIdentity);
      const { requests: after } = await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid) });
      expect(after[0]!.commandId).toBe(audited.id);
      const { agent: stored } = await t.agents.getAgent({ instanceUid: hex(agent.uid) });
      expect(stored?.status?.connectionSettingsRequest).toBeUndefined();
      // Decided once: approving again is refused with FailedPrecondition.
      await expect(t.certificates.approveCertificateRequest({ id: requests[0]!.id })).rejects.toMatchObject({ code: 9 });
      await expect(t.certificates.approveCertificateRequest({ id: "0".repeat(32) })).rejects.toMatchObject({ code: 5 }); // NotFound
      await agent.close();
    });

    it("a CSR naming another agent is refused with BAD_REQUEST and kept as REFUSED", async () => {
      const t = topology();
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ capabilities: CSR_CAPS, agentDescription: description("csr-refused") as never });
      await eventually(() => agent.received[0]);
      const impostor = await makeCsr({ subject: `CN=${uuidOf(uuidv7Bytes())}` });
      agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(impostor.pem) });
      const refusal = await eventually(() => agent.received[1]);
      expect(refusal.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
      expect(refusal.errorResponse?.errorMessage).toMatch(new RegExp(`sent by agent ${hex(agent.uid)}`));
      expect(refusal.connectionSettings).toBeUndefined();
      const refused = await eventually(async () => (await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid) })).requests.find((r) => r.commandId));
      expect(refused.state).toBe(CertificateRequestState.REFUSED);
      expect(refused.reason).toBe(refusal.errorResponse!.errorMessage);
      await agent.close();
    });

    it("a denied CSR is answered with the admin's reason", async () => {
      const t = topology();
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ capabilities: CSR_CAPS, agentDescription: description("csr-denied") as never });
      await eventually(() => agent.received[0]);
      const { pem } = await makeCsr({ subject: "CN=collector", uris: [`urn:uuid:${uuidOf(agent.uid)}`] });
      agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: csrRequest(pem) });
      await eventually(() => agent.received[1]);
      const waiting = await eventually(async () => (await t.certificates.listCertificateRequests({ instanceUid: hex(agent.uid), state: CertificateRequestState.PENDING })).requests[0]);
      await expect(t.certificates.denyCertificateRequest({ id: waiting.id, reason: "" })).rejects.toMatchObject({ code: 3 }); // a reason is required
      const denied = await t.certificates.denyCertificateRequest({ id: waiting.id, reason: "unknown host", deniedBy: "e2e-admin" });
      expect(denied.request?.state).toBe(CertificateRequestState.DENIED);
      expect(denied.pushed).toBe(true);
      const told = await eventually(() => agent.received.slice(2).find((m) => m.errorResponse));
      expect(told.errorResponse!.errorMessage).toContain(`denied by ${t.adminIdentity}: unknown host`);
      await agent.close();
    });
  });
}
