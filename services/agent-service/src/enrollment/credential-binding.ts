import type { Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { certificateSerial } from "@fleetplane/platform";
import { tokenIdOf } from "./enrollment-tokens.js";

const CERTIFICATE_PREFIX = "cert:";

/** The credential of an agent that presented the client certificate with this serial number. */
export function certificateCredential(serial: string): string {
  return CERTIFICATE_PREFIX + certificateSerial(serial);
}

/**
 * The rule of instance UIDs and credentials, in one place: a UID belongs to
 * the credential it first came with (Agent.metadata.credential). A message
 * for it with another credential — another token, another certificate, or
 * none at all — is refused, with one exception: a client certificate issued
 * for this very UID (its `urn:uuid:` SAN, as the CSR flow issues them; the
 * gateway refuses other UIDs on such a connection) takes the UID over from
 * the token it enrolled with, and the UID is bound to the certificate from
 * then on. That certificate was issued to whoever could speak for the UID
 * at the time, so it proves no less than the token did.
 * Returns why a message is refused, or undefined when it may go on.
 */
export function bindingRefusal(bound: string, connection: Pick<Connection, "credential" | "certificateUid">, uidHex: string): string | undefined {
  if (!bound || bound === connection.credential) return undefined;
  if (connection.credential.startsWith(CERTIFICATE_PREFIX) && connection.certificateUid === uidHex) return undefined;
  return connection.credential ? "instance UID is bound to another credential" : "instance UID is bound to a credential; this connection presented none";
}

/** The token a new agent on this connection enrolls with ("token:<id>"), or "" when it presented none. */
export function enrollmentCredentialOf(connection: Pick<Connection, "credential" | "enrollmentCredential">): string {
  if (connection.enrollmentCredential) return connection.enrollmentCredential;
  return tokenIdOf(connection.credential) !== undefined ? connection.credential : "";
}
