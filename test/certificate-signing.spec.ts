import { X509Certificate } from "node:crypto";
import { describe, expect, it, beforeAll } from "vitest";
import {
  createX509CertificateSigner,
  generateCertificateAuthority,
  CertificateAuthorityConfigError,
  type CertificateSigner,
  MalformedCsrError,
  csrIdentityProblem,
  instanceUidNamedBy,
  uuidText,
} from "@fleetplane/agent-service";
import { create } from "@bufbuild/protobuf";
import { CertificateRequestState } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { AgentCapabilities, ConnectionSettingsRequestSchema, ServerCapabilities, ServerErrorResponseType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { breakSignature, makeCsr } from "./support/csr.js";
import { CAPS, WsAgent, description } from "./support/simulated-agent.js";
import { eventually, startTestServer } from "./support/standalone-server.js";

const UID = "0193a5b2c3d47e8f9a0b1c2d3e4f5a6b";
const OTHER = "0193a5b2c3d47e8f9a0b1c2d3e4f5a6c";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

describe("the instance UID a CSR names", () => {
  it("is read from UUID text, 32 hex digits or urn:uuid:, and nothing else", () => {
    expect(instanceUidNamedBy(uuidText(UID))).toBe(UID);
    expect(instanceUidNamedBy(UID.toUpperCase())).toBe(UID);
    expect(instanceUidNamedBy(`urn:uuid:${uuidText(UID)}`)).toBe(UID);
    expect(instanceUidNamedBy("OpAMP Example Client")).toBeUndefined();
    expect(instanceUidNamedBy(`${UID}0`)).toBeUndefined();
  });

  it("must be the sender's, in the CN or a URI SAN; any other UID is refused", () => {
    const csr = (commonNames: string[], uris: string[] = []) => ({ subject: "", commonNames, uris, signatureValid: true });
    expect(csrIdentityProblem(csr([uuidText(UID)]), UID)).toBeUndefined();
    expect(csrIdentityProblem(csr(["collector"], [`urn:uuid:${uuidText(UID)}`]), UID)).toBeUndefined();
    expect(csrIdentityProblem(csr([uuidText(OTHER)]), UID)).toMatch(new RegExp(`names instance UID ${OTHER} but was sent by agent ${UID}`));
    expect(csrIdentityProblem(csr([uuidText(UID)], [`urn:uuid:${uuidText(OTHER)}`]), UID)).toMatch(/may only request a certificate for itself/);
    expect(csrIdentityProblem(csr(["OpAMP Example Client"]), UID)).toMatch(/does not name the agent's instance UID/);
    // From an authenticated agent a CSR that names no UID is taken (the server writes the subject);
    // one that names another UID is still refused.
    expect(csrIdentityProblem(csr(["OpAMP Example Client"]), UID, { authenticated: true })).toBeUndefined();
    expect(csrIdentityProblem(csr([uuidText(OTHER)]), UID, { authenticated: true })).toMatch(/may only request a certificate for itself/);
  });
});

describe("the X.509 certificate signer", () => {
  let ca: { caCertPem: string; caKeyPem: string };
  let signer: CertificateSigner;
  beforeAll(async () => {
    ca = await generateCertificateAuthority({ commonName: "Fleetplane test CA", validityDays: 30 });
    signer = await createX509CertificateSigner({ ...ca, validityDays: 7 });
  });

  it.each(["ecdsa", "rsa"] as const)("signs a %s CSR for the right UID: chains to the CA, clientAuth only, no CA bit, the server's own subject", async (algorithm) => {
    const { pem, publicKeyDer } = await makeCsr({ subject: `CN=${uuidText(UID)}, O=Evil Corp`, uris: ["https://admin.example"], algorithm });
    const inspected = await signer.inspect(pem);
    expect(inspected.signatureValid).toBe(true);
    expect(csrIdentityProblem(inspected, UID)).toBeUndefined();

    const now = Date.now();
    const issued = await signer.issue(pem, uuidText(UID), now);
    const cert = new X509Certificate(issued.certificatePem);
    const caCert = new X509Certificate(issued.caCertificatePem);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual([CLIENT_AUTH]);
    expect(cert.subject).toBe(`CN=${uuidText(UID)}`); // nothing copied from the CSR
    expect(cert.subjectAltName).toBe(`URI:urn:uuid:${uuidText(UID)}`);
    expect(cert.publicKey.export({ format: "der", type: "spki" })).toEqual(publicKeyDer);
    expect(cert.serialNumber.toLowerCase()).toBe(issued.serialNumber.toLowerCase());
    expect(new Date(cert.validTo).getTime()).toBe(Math.floor((now + 7 * 86_400_000) / 1000) * 1000);
    expect(issued.caCertificatePem.trim()).toBe(ca.caCertPem.trim());
  });

  it("gives two certificates two serial numbers", async () => {
    const { pem } = await makeCsr({ subject: `CN=${uuidText(UID)}` });
    const [a, b] = await Promise.all([signer.issue(pem, uuidText(UID), Date.now()), signer.issue(pem, uuidText(UID), Date.now())]);
    expect(a.serialNumber).not.toBe(b.serialNumber);
  });

  it("sees a broken self-signature, and calls text that is no CSR malformed", async () => {
    const { pem } = await makeCsr({ subject: `CN=${uuidText(UID)}` });
    expect((await signer.inspect(breakSignature(pem))).signatureValid).toBe(false);
    await expect(signer.inspect("hello")).rejects.toBeInstanceOf(MalformedCsrError);
    await expect(signer.inspect("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")).rejects.toBeInstanceOf(MalformedCsrError);
  });

  it("refuses a CA whose key does not match, or a certificate that is no CA, without echoing the key", async () => {
    const other = await generateCertificateAuthority({ commonName: "other", validityDays: 30 });
    await expect(createX509CertificateSigner({ caCertPem: ca.caCertPem, caKeyPem: other.caKeyPem, validityDays: 1 })).rejects.toThrow(/does not belong to the CA certificate/);
    const leaf = await signer.issue((await makeCsr({ subject: `CN=${uuidText(UID)}` })).pem, uuidText(UID), Date.now());
    await expect(createX509CertificateSigner({ caCertPem: leaf.certificatePem, caKeyPem: ca.caKeyPem, validityDays: 1 })).rejects.toBeInstanceOf(CertificateAuthorityConfigError);
    const garbage = await createX509CertificateSigner({ caCertPem: ca.caCertPem, caKeyPem: "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n", validityDays: 1 }).catch((e: Error) => e);
    expect((garbage as Error).message).not.toContain("c2VjcmV0");
  });
});

describe("a server without a CA", () => {
  it("does not announce AcceptsConnectionSettingsRequest, refuses a CSR saying why, and keeps it visible as REFUSED", async () => {
    const t = await startTestServer();
    try {
      const caps = CAPS | BigInt(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings);
      const agent = await WsAgent.connect(t.wsUrl);
      agent.send({ capabilities: caps, agentDescription: description("no-ca") as never });
      const first = await eventually(() => agent.received[0]);
      expect(first.capabilities & BigInt(ServerCapabilities.ServerCapabilities_AcceptsConnectionSettingsRequest)).toBe(0n);
      expect(first.capabilities & BigInt(ServerCapabilities.ServerCapabilities_OffersConnectionSettings)).not.toBe(0n);

      const { pem } = await makeCsr({ subject: `CN=${uuidText(Buffer.from(agent.uid).toString("hex"))}` });
      agent.send({ capabilities: caps, connectionSettingsRequest: create(ConnectionSettingsRequestSchema, { opamp: { certificateRequest: { csr: new TextEncoder().encode(pem) } } }) });
      const reply = await eventually(() => agent.received[1]);
      expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
      expect(reply.errorResponse?.errorMessage).toMatch(/no certificate authority configured/);
      const { requests } = await t.certificates.listCertificateRequests({});
      expect(requests).toHaveLength(1);
      expect(requests[0]).toMatchObject({ state: CertificateRequestState.REFUSED, reason: reply.errorResponse!.errorMessage, csr: new TextEncoder().encode(pem) });
      await expect(t.certificates.approveCertificateRequest({ id: requests[0]!.id })).rejects.toMatchObject({ code: 9 }); // FailedPrecondition
      await agent.close();
    } finally {
      await t.close();
    }
  });
});
