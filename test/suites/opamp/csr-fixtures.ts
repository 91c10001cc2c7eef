import { create } from "@bufbuild/protobuf";
import { AgentCapabilities, ConnectionSettingsRequestSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import { CAPS } from "../../support/simulated-agent.js";

/** An agent that may ask for a client certificate and report whether it applied one. */
export const CSR_CAPS =
  CAPS | BigInt(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings | AgentCapabilities.AgentCapabilities_ReportsConnectionSettingsStatus);

/** AgentToServer.connection_settings_request carrying a PEM CSR. */
export function csrRequest(pem: string) {
  return create(ConnectionSettingsRequestSchema, { opamp: { certificateRequest: { csr: new TextEncoder().encode(pem) } } });
}

/** An instance UID as a UUID string, the way a CSR names its agent (CN or a urn:uuid: SAN). */
export const uuidOf = (uid: Uint8Array) => instanceUidToHex(uid).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");
