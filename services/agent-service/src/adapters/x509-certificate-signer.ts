// tsyringe, inside @peculiar/x509, needs the Reflect metadata polyfill loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from "node:crypto";
import { MalformedCsrError, type CertificateSigner, type InspectedCsr } from "../certificates/certificate-signer.js";

/**
 * The certificate authority on Node's WebCrypto, with @peculiar/x509 for the
 * X.509 and PKCS#10 encoding (no ASN.1 of our own). Private keys never leave
 * this module and never appear in an error message.
 */
const crypto = webcrypto;
x509.cryptoProvider.set(crypto as never);

/** The CA certificate or key given to the server cannot be used. */
export class CertificateAuthorityConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CertificateAuthorityConfigError";
  }
}

export interface CertificateAuthorityFiles {
  /** PEM of the CA certificate (the first certificate in the text is used). */
  caCertPem: string;
  /** PEM of the CA's private key: PKCS#8, or PKCS#1 RSA / SEC1 EC. */
  caKeyPem: string;
  /** Lifetime of issued client certificates. */
  validityDays: number;
}

/** Clock skew tolerated between the server and the machines that check certificates. */
const BACKDATE_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

type SigningAlgorithm = webcrypto.RsaHashedImportParams | (webcrypto.EcKeyImportParams & webcrypto.EcdsaParams);

function signingAlgorithmOf(key: KeyObject): SigningAlgorithm {
  if (key.asymmetricKeyType === "rsa") return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
    if (curve === "secp384r1") return { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" };
    throw new CertificateAuthorityConfigError(`the CA key's elliptic curve ${curve ?? "(unknown)"} is not supported; use P-256, P-384 or RSA`);
  }
  throw new CertificateAuthorityConfigError(`the CA key type ${key.asymmetricKeyType ?? "(unknown)"} is not supported; use RSA or ECDSA (P-256, P-384)`);
}

/** Loads and checks the CA (a CA certificate whose key is the given key), ready to sign. */
export async function createX509CertificateSigner(o: CertificateAuthorityFiles): Promise<CertificateSigner> {
  if (!(o.validityDays > 0)) throw new CertificateAuthorityConfigError(`the certificate validity must be more than 0 days, got ${o.validityDays}`);
  let caCert: x509.X509Certificate;
  try {
    caCert = new x509.X509Certificate(firstPemBlock(o.caCertPem, "CERTIFICATE"));
  } catch (err) {
    throw new CertificateAuthorityConfigError(`the CA certificate is not a PEM X.509 certificate: ${(err as Error).message}`);
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(o.caKeyPem);
  } catch {
    // Node's message is generic; never echo the key's text.
    throw new CertificateAuthorityConfigError("the CA private key is not a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC) without a passphrase");
  }
  const algorithm = signingAlgorithmOf(keyObject);
  const publicDer = createPublicKey(keyObject).export({ format: "der", type: "spki" });
  if (!Buffer.from(caCert.publicKey.rawData).equals(publicDer)) {
    throw new CertificateAuthorityConfigError(`the CA private key does not belong to the CA certificate (${caCert.subject})`);
  }
  const constraints = caCert.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) throw new CertificateAuthorityConfigError(`the certificate ${caCert.subject} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  if (caCert.notAfter.getTime() < Date.now()) throw new CertificateAuthorityConfigError(`the CA certificate ${caCert.subject} expired on ${caCert.notAfter.toISOString()}`);
  const signingKey = await crypto.subtle.importKey("pkcs8", keyObject.export({ format: "der", type: "pkcs8" }), algorithm, false, ["sign"]);
  const caCertificatePem = caCert.toString("pem");
  const authorityKeyId = await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey);

  return {
    async inspect(csrPem: string): Promise<InspectedCsr> {
      const csr = parseCsr(csrPem);
      let signatureValid: boolean;
      try {
        signatureValid = await csr.verify();
      } catch (err) {
        throw new MalformedCsrError(`its signature cannot be checked (${(err as Error).message}); use RSA or ECDSA with SHA-256`);
      }
      return {
        subject: csr.subject,
        commonNames: csr.subjectName.getField("CN"),
        uris: uriNamesOf(csr),
        signatureValid,
      };
    },

    async issue(csrPem: string, instanceUidUuid: string, now: number) {
      const csr = parseCsr(csrPem);
      const serial = randomBytes(16);
      serial[0] = (serial[0]! & 0x7f) | 0x01; // positive, and no leading zero byte to trim
      const notAfter = new Date(now + o.validityDays * DAY_MS);
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial.toString("hex"),
        subject: `CN=${instanceUidUuid}`,
        issuer: caCert.subjectName,
        notBefore: new Date(now - BACKDATE_MS),
        notAfter,
        publicKey: csr.publicKey,
        signingKey,
        signingAlgorithm: algorithm,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
          new x509.SubjectAlternativeNameExtension([{ type: "url", value: `urn:uuid:${instanceUidUuid}` }]),
          await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
          authorityKeyId,
        ],
      });
      return { certificatePem: cert.toString("pem"), caCertificatePem, serialNumber: cert.serialNumber, notAfter: notAfter.getTime() };
    },
  };
}

function parseCsr(pem: string): x509.Pkcs10CertificateRequest {
  const block = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----[\s\S]+?-----END (NEW )?CERTIFICATE REQUEST-----/.exec(pem);
  if (!block) throw new MalformedCsrError("no PEM block labelled CERTIFICATE REQUEST");
  try {
    return new x509.Pkcs10CertificateRequest(block[0].replaceAll("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST"));
  } catch (err) {
    throw new MalformedCsrError((err as Error).message);
  }
}

function uriNamesOf(csr: x509.Pkcs10CertificateRequest): string[] {
  const ext = csr.getExtension("2.5.29.17");
  if (!ext) return [];
  return new x509.SubjectAlternativeNameExtension(ext.rawData).names.items.filter((n) => n.type === "url").map((n) => n.value);
}

function firstPemBlock(text: string, label: string): string {
  const block = new RegExp(`-----BEGIN ${label}-----[\\s\\S]+?-----END ${label}-----`).exec(text);
  if (!block) throw new Error(`no PEM block labelled ${label}`);
  return block[0];
}

/** A new self-signed ECDSA P-256 CA (development and tests only). */
export async function generateCertificateAuthority(o: { commonName: string; validityDays: number; now?: number }): Promise<{ caCertPem: string; caKeyPem: string }> {
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const now = o.now ?? Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01" + randomBytes(15).toString("hex"),
    name: `CN=${o.commonName}`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + o.validityDays * DAY_MS),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { caCertPem: cert.toString("pem"), caKeyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") };
}
