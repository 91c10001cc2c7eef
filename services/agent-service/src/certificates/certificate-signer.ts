/**
 * The certificate authority as the domain sees it (secondary port): it reads
 * PKCS#10 requests and issues client certificates. The X.509 work lives in an
 * adapter; the domain decides who gets a certificate.
 */

/** What a CSR says about itself, read without trusting it yet. */
export interface InspectedCsr {
  /** RFC 4514 text of the subject, e.g. "CN=0193a5b2-…". */
  subject: string;
  /** The subject's common names (usually one). */
  commonNames: string[];
  /** URI subject alternative names requested in the CSR. */
  uris: string[];
  /** Whether the request is signed by the private key of the public key it carries. */
  signatureValid: boolean;
}

export interface IssuedCertificate {
  /** PEM of the client certificate. */
  certificatePem: string;
  /** PEM of the issuing CA's certificate (TLSCertificate.ca_cert). */
  caCertificatePem: string;
  /** Hex serial number. */
  serialNumber: string;
  /** Epoch ms. */
  notAfter: number;
}

/** The CSR is not a PEM-encoded PKCS#10 request. */
export class MalformedCsrError extends Error {
  constructor(detail: string) {
    super(`the CSR is not a PEM-encoded PKCS#10 certificate request: ${detail}`);
    this.name = "MalformedCsrError";
  }
}

export interface CertificateSigner {
  /** Parses and checks the self-signature; throws MalformedCsrError when it cannot be read. */
  inspect(csrPem: string): Promise<InspectedCsr>;
  /**
   * Issues a client certificate for the CSR's public key. The subject is
   * chosen by the server, never copied from the CSR: CN and a
   * `urn:uuid:` URI SAN carry the agent's instance UID (UUID form).
   */
  issue(csrPem: string, instanceUidUuid: string, now: number): Promise<IssuedCertificate>;
}
