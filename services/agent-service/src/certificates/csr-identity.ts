import type { InspectedCsr } from "./certificate-signer.js";

/**
 * Which agent a CSR asks a certificate for. The spec lets implementations put
 * the instance UID in CSR fields, and then the server MUST check it against
 * the sender's, so an agent can only get a certificate for itself. Fleetplane
 * checks every UID-shaped name in the subject CN and the URI SANs (UUID form
 * `0193a5b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b`, 32 hex digits, or
 * `urn:uuid:<uuid>`): each must be the sender's. A CSR that names no UID at
 * all (a stock client's, e.g. "OpAMP Example Client") is taken from an agent
 * that authenticated (an enrollment token): the server writes the subject and
 * the `urn:uuid:` SAN of the certificate itself. Without agent authentication
 * the UID must be named, as before.
 */

const UUID_TEXT = /^(?:urn:uuid:)?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})$/i;

/** 32 lowercase hex digits if `name` is an instance UID in one of the accepted forms. */
export function instanceUidNamedBy(name: string): string | undefined {
  const m = UUID_TEXT.exec(name.trim());
  return m ? m.slice(1).join("").toLowerCase() : undefined;
}

/** The canonical UUID text of a 32-hex-digit UID. */
export function uuidText(uidHex: string): string {
  return `${uidHex.slice(0, 8)}-${uidHex.slice(8, 12)}-${uidHex.slice(12, 16)}-${uidHex.slice(16, 20)}-${uidHex.slice(20)}`;
}

/** Undefined when the CSR names only the sender (or, from an authenticated sender, no UID); otherwise why it is refused. */
export function csrIdentityProblem(csr: InspectedCsr, senderUidHex: string, sender: { authenticated: boolean } = { authenticated: false }): string | undefined {
  const named = [...csr.commonNames, ...csr.uris].map(instanceUidNamedBy).filter((u): u is string => u !== undefined);
  const others = [...new Set(named.filter((u) => u !== senderUidHex))];
  if (others.length > 0) {
    return `the CSR names instance UID ${others.join(", ")} but was sent by agent ${senderUidHex}; an agent may only request a certificate for itself`;
  }
  if (named.length === 0 && !sender.authenticated) {
    return `the CSR does not name the agent's instance UID; put ${uuidText(senderUidHex)} in the subject CN or in a URI SAN urn:uuid:${uuidText(senderUidHex)}`;
  }
  return undefined;
}
