// tsyringe, inside @peculiar/x509, needs the Reflect metadata polyfill loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { execFileSync } from "node:child_process";
import { randomBytes, webcrypto } from "node:crypto";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { uuidText } from "@fleetplane/agent-service";
import { AgentCapabilities, ConnectionSettingsRequestSchema, type ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { X509Certificate } from "node:crypto";
import WebSocket from "ws";
import { makeCsr } from "./csr.js";
import { eventually } from "./eventually.js";
import { CAPS, WsAgent, description, type AgentTls } from "./simulated-agent.js";

/** The simulated agents' capabilities, and AcceptsOpAMPConnectionSettings (to be offered a certificate). */
export const CSR_CAPS = CAPS | BigInt(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings);

x509.cryptoProvider.set(webcrypto as never);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const DAY_MS = 86_400_000;

export interface ClientCertificate {
  certPem: string;
  keyPem: string;
  /** Lowercase hex, no leading zeros (as Fleetplane records it: "cert:<serial>"). */
  serial: string;
}

/**
 * A client certificate issued by `ca` (PEM pair, ECDSA P-256 as
 * generateCertificateAuthority makes), for agent `uid` (a `urn:uuid:` SAN,
 * as the CSR flow issues) or for nobody in particular; valid from/to the
 * given times (default: now, for a day).
 */
export async function clientCertificate(ca: { caCertPem: string; caKeyPem: string }, o: { uid?: string; notBefore?: number; notAfter?: number } = {}): Promise<ClientCertificate> {
  const caCert = new x509.X509Certificate(ca.caCertPem);
  const caKey = await webcrypto.subtle.importKey("pkcs8", x509.PemConverter.decode(ca.caKeyPem)[0]!, ALGORITHM, false, ["sign"]);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const serial = "01" + randomBytes(15).toString("hex");
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: o.uid ? `CN=${uuidText(o.uid)}` : "CN=bootstrap",
    issuer: caCert.subjectName,
    notBefore: new Date(o.notBefore ?? now - 60_000),
    notAfter: new Date(o.notAfter ?? now + DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ...(o.uid ? [new x509.SubjectAlternativeNameExtension([{ type: "url", value: `urn:uuid:${uuidText(o.uid)}` }])] : []),
    ],
  });
  return {
    certPem: cert.toString("pem"),
    keyPem: x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY"),
    serial: serial.replace(/^0+/, ""),
  };
}

/** A self-signed server pair for 127.0.0.1 written to dir/tls.crt and dir/tls.key (openssl, as opamp-tls.spec.ts does). */
export function writeServerPair(dir: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, "tls.crt");
  const keyFile = join(dir, "tls.key");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
    "-subj", "/CN=opamp.test", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout", keyFile, "-out", certFile,
  ], { stdio: "ignore" });
  return { certFile, keyFile };
}

/** The status (and body) of a WebSocket upgrade. */
export function upgrade(url: string, tls: AgentTls, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers, ...tls });
    socket.once("open", () => {
      socket.close();
      resolve({ status: 101, body: "" });
    });
    socket.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    socket.once("error", reject);
  });
}

/**
 * The CSR flow on a connection: a stock client's CSR (subject naming no
 * UID), auto-approved; returns the certificate offered and the key it is for.
 */
export async function certificateThroughCsr(agent: WsAgent): Promise<ClientCertificate> {
  const csr = await makeCsr({ subject: "CN=OpAMP Example Client" });
  const before = agent.received.length;
  agent.send({ capabilities: CSR_CAPS, connectionSettingsRequest: create(ConnectionSettingsRequestSchema, { opamp: { certificateRequest: { csr: new TextEncoder().encode(csr.pem) } } }) });
  const offer = await eventually(() => agent.received.slice(before).find((m: ServerToAgent) => m.connectionSettings?.opamp?.certificate?.cert.length), 10_000, "a certificate offer");
  const certPem = new TextDecoder().decode(offer.connectionSettings!.opamp!.certificate!.cert);
  return { certPem, keyPem: csr.keyPem, serial: new X509Certificate(certPem).serialNumber.toLowerCase().replace(/^0+/, "") };
}


/**
 * An agent enrolled the way a real one is: it connects at `enrollAt` with the
 * TLS (and headers) it has, asks for a certificate by CSR, then comes back at
 * `connectAt` with that certificate, carrying on its sequence numbers. The
 * agent returned is connected with the certificate and has been answered.
 */
export async function certifiedAgent(o: {
  enrollAt: string;
  connectAt: string;
  uid: Uint8Array;
  tls: (own?: ClientCertificate) => AgentTls;
  headers?: Record<string, string>;
}): Promise<{ certified: WsAgent; own: ClientCertificate }> {
  const enrolling = await WsAgent.hello(o.enrollAt, o.uid, { capabilities: CSR_CAPS, agentDescription: description() }, { tls: o.tls(), ...(o.headers ? { headers: o.headers } : {}) });
  const own = await certificateThroughCsr(enrolling);
  await enrolling.close();
  const certified = await WsAgent.hello(o.connectAt, o.uid, { capabilities: CSR_CAPS }, { tls: o.tls(own), seq: enrolling.seq, ...(o.headers ? { headers: o.headers } : {}) });
  return { certified, own };
}
