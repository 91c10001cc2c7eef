import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { certificateUidRefusal, presentedCertificate } from "./client-certificate.js";

const UID = "0193a5b2c3d47e8f9a0b1c2d3e4f5a6b";

function request(socket: object): IncomingMessage {
  return { socket } as unknown as IncomingMessage;
}

function tlsSocket(cert: object, authorized = true, authorizationError?: string) {
  return { getPeerCertificate: () => cert, authorized, authorizationError };
}

describe("presentedCertificate", () => {
  it("finds none on a plain socket or when the client sent none", () => {
    expect(presentedCertificate(request({}))).toEqual({ kind: "none" });
    expect(presentedCertificate(request(tlsSocket({})))).toEqual({ kind: "none" });
  });

  it("refuses one the TLS layer could not verify, saying why in words", () => {
    const expired = presentedCertificate(request(tlsSocket({ serialNumber: "01" }, false, "CERT_HAS_EXPIRED")));
    expect(expired).toEqual({ kind: "refused", reason: "the client certificate has expired (CERT_HAS_EXPIRED)" });
    const foreign = presentedCertificate(request(tlsSocket({ serialNumber: "01" }, false, "UNABLE_TO_VERIFY_LEAF_SIGNATURE")));
    expect(foreign).toMatchObject({ kind: "refused", reason: expect.stringMatching(/not issued by the --agent-client-ca/) });
    expect(presentedCertificate(request(tlsSocket({ serialNumber: "01" }, false, "SOMETHING_NEW")))).toMatchObject({ reason: "the client certificate does not verify (SOMETHING_NEW)" });
  });

  it("reads a verified one's serial (lowercase, no leading zeros) and the UID of its urn:uuid SAN", () => {
    const cert = { serialNumber: "0A1B", subjectaltname: `DNS:agent.example, URI:urn:uuid:0193a5b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b` };
    expect(presentedCertificate(request(tlsSocket(cert)))).toEqual({ kind: "verified", serial: "a1b", uid: UID });
    expect(presentedCertificate(request(tlsSocket({ serialNumber: "05" })))).toEqual({ kind: "verified", serial: "5", uid: "" });
  });

  it("refuses one that names two instance UIDs", () => {
    const cert = { serialNumber: "01", subjectaltname: `URI:urn:uuid:${UID}, URI:urn:uuid:0193a5b2c3d47e8f9a0b1c2d3e4f5a6c` };
    expect(presentedCertificate(request(tlsSocket(cert)))).toMatchObject({ kind: "refused", reason: expect.stringMatching(/several instance UIDs/) });
  });
});

describe("certificateUidRefusal", () => {
  it("lets a connection speak only for the UID its certificate names (any, when it names none)", () => {
    expect(certificateUidRefusal("", UID)).toBeUndefined();
    expect(certificateUidRefusal(UID, UID)).toBeUndefined();
    expect(certificateUidRefusal(UID, "00".repeat(16))).toMatch(new RegExp(`client certificate is for instance UID ${UID}, not 0{32}`));
  });
});
