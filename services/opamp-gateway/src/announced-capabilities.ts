import { SERVER_CAPABILITIES } from "@fleetplane/opamp";
import type { ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";

/**
 * The server capabilities the gateway announces in the messages it makes
 * itself (error replies, full-state requests). Every ServerToAgent carries
 * them, but what the server can do is agent-service's to say (CSR signing
 * adds a capability when a CA is configured) and the gateway does not know
 * agent-service's configuration. So it repeats what agent-service announced
 * in the latest reply relayed through it — one field written per reply —
 * and the base set until the first one.
 */
export class AnnouncedCapabilities {
  private latest: bigint = SERVER_CAPABILITIES;

  /** A reply from agent-service went through; it names the capabilities to announce. */
  relayed(reply: ServerToAgent): void {
    // A reply without capabilities says nothing about them; keep what we knew.
    if (reply.capabilities !== 0n) this.latest = reply.capabilities;
  }

  get current(): bigint {
    return this.latest;
  }
}
