import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { certificateSerial } from "@fleetplane/platform";
import type { AgentCredentials } from "./agent-authentication.js";

/**
 * The client certificate of a request on the OpAMP port (mTLS,
 * --agent-client-ca). The TLS layer asks for one and checks it against the
 * CA, but lets the handshake finish whatever it finds (rejectUnauthorized
 * false): the verdict is given here, at OnConnecting, as a 401 with a reason
 * the agent and the log can read — a handshake alert tells the client only
 * "bad certificate", and tells our log nothing at all.
 */
export type PresentedCertificate =
  /** None presented (or the port has no TLS / no client CA). */
  | { kind: "none" }
  /** Verified against --agent-client-ca: its serial (lowercase hex, no leading zeros) and the UID of its urn:uuid SAN ("" when it names none). */
  | { kind: "verified"; serial: string; uid: string }
  | { kind: "refused"; reason: string };

/** OpenSSL's verdicts, as an agent's operator needs to read them. */
const REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: "the client certificate has expired",
  CERT_NOT_YET_VALID: "the client certificate is not valid yet",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the client certificate is self-signed, not issued by the --agent-client-ca",
  SELF_SIGNED_CERT_IN_CHAIN: "the client certificate was not issued by the --agent-client-ca",
  UNABLE_TO_GET_ISSUER_CERT: "the client certificate was not issued by the --agent-client-ca",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the client certificate was not issued by the --agent-client-ca",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the client certificate was not issued by the --agent-client-ca",
  CERT_SIGNATURE_FAILURE: "the client certificate's signature does not verify",
  INVALID_PURPOSE: "the client certificate may not be used for client authentication (extended key usage)",
  CERT_REVOKED: "the client certificate is revoked",
};

const URN_UUID = /^urn:uuid:([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})$/i;

export function presentedCertificate(req: IncomingMessage): PresentedCertificate {
  const socket = req.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== "function") return { kind: "none" };
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return { kind: "none" };
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? "unknown");
    return { kind: "refused", reason: `${REASONS[code] ?? "the client certificate does not verify"} (${code})` };
  }
  const uids = new Set<string>();
  for (const name of (cert.subjectaltname ?? "").split(/,\s*/)) {
    if (!name.startsWith("URI:")) continue;
    const m = URN_UUID.exec(name.slice(4));
    if (m) uids.add(m.slice(1).join("").toLowerCase());
  }
  if (uids.size > 1) return { kind: "refused", reason: "the client certificate names several instance UIDs (urn:uuid SANs); it must name one" };
  return { kind: "verified", serial: certificateSerial(cert.serialNumber), uid: [...uids][0] ?? "" };
}

/**
 * Why a message may not be taken on a connection whose client certificate
 * names an instance UID (`urn:uuid:` SAN): the message is for another UID.
 * Undefined when it may. Checked before the message goes anywhere.
 */
export function certificateUidRefusal(certificateUid: string, messageUidHex: string): string | undefined {
  if (!certificateUid || certificateUid === messageUidHex) return undefined;
  return `this connection's client certificate is for instance UID ${certificateUid}, not ${messageUidHex}`;
}

/**
 * Whether credentials with a client certificate issued for this very UID may
 * take the UID over from a session of another credential that this gateway
 * holds (the agent reconnecting with the certificate its CSR obtained, while
 * its token session is still open): the gateway's side of the takeover rule
 * of agent-service's credential-binding.ts.
 */
export function certificateTakesOver(credentials: AgentCredentials, uidHex: string): boolean {
  return credentials.certificateUid !== "" && credentials.certificateUid === uidHex;
}
