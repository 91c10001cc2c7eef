import type { AgentToServer } from "@fleetplane/gen/opamp/proto/opamp_pb";

/**
 * Whether an AgentToServer is a bare heartbeat: instance UID, sequence
 * number and capabilities, nothing else — it reports no change (the spec has
 * agents omit every part that did not change). Most messages of a connected
 * fleet are these; a gateway may answer them itself while agent-service lets
 * it (ReportMessageResponse.acknowledges_heartbeats). A field added to
 * AgentToServer must be added here: the spec sets each in turn.
 */
export function isHeartbeat(message: AgentToServer): boolean {
  return (
    message.flags === 0n &&
    message.agentDescription === undefined &&
    message.health === undefined &&
    message.effectiveConfig === undefined &&
    message.remoteConfigStatus === undefined &&
    message.packageStatuses === undefined &&
    message.agentDisconnect === undefined &&
    message.connectionSettingsRequest === undefined &&
    message.customCapabilities === undefined &&
    message.customMessage === undefined &&
    message.availableComponents === undefined &&
    message.connectionSettingsStatus === undefined
  );
}
