// tsyringe, inside @peculiar/x509, needs the Reflect metadata polyfill loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";

x509.cryptoProvider.set(webcrypto as never);

/**
 * A PKCS#10 request as an agent would make it: a fresh key pair, the given
 * subject and URI SANs, signed with the new private key (which the test
 * keeps, as the agent would).
 */
export async function makeCsr(o: { subject: string; uris?: string[]; algorithm?: "ecdsa" | "rsa" }): Promise<{ pem: string; publicKeyDer: Buffer; keyPem: string }> {
  const algorithm =
    o.algorithm === "rsa"
      ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 }
      : { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: o.subject,
    keys: keys as never,
    signingAlgorithm: algorithm,
    extensions: o.uris?.length ? [new x509.SubjectAlternativeNameExtension(o.uris.map((value) => ({ type: "url" as const, value })))] : [],
  });
  return {
    pem: csr.toString("pem"),
    publicKeyDer: Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey)),
    keyPem: x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY"),
  };
}

/** The same request with one bit of its signature flipped: it still parses, but does not verify. */
export function breakSignature(pem: string): string {
  const der = Buffer.from(x509.PemConverter.decode(pem)[0]!);
  der[der.length - 3]! ^= 0x01;
  return x509.PemConverter.encode(der, "CERTIFICATE REQUEST");
}

/** A throwaway CA written as PEM files (what an operator gives --csr-ca-cert and --csr-ca-key). */
export async function writeTestCa(dir: string): Promise<{ caCertFile: string; caKeyFile: string; caCertPem: string; caKeyPem: string }> {
  const { generateCertificateAuthority } = await import("@fleetplane/agent-service");
  const { writeFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const ca = await generateCertificateAuthority({ commonName: "Fleetplane e2e CA", validityDays: 2 });
  const caCertFile = join(dir, "ca.pem");
  const caKeyFile = join(dir, "ca-key.pem");
  writeFileSync(caCertFile, ca.caCertPem);
  writeFileSync(caKeyFile, ca.caKeyPem, { mode: 0o600 });
  return { caCertFile, caKeyFile, caCertPem: ca.caCertPem, caKeyPem: ca.caKeyPem };
}
