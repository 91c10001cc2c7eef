import type { Logger, PushBus, PushSubscription } from "@fleetplane/platform";
import type { AgentStore } from "./agent-store.js";

/**
 * The push bus channel on which agent-service replicas tell each other "I
 * stored a change to agent X": a replica that caches X (it serves X's HTTP
 * polls) reads X from the store before its next reply. WebSocket agents need
 * no such notice (their gateway pulls with a read through to the store).
 * Shares the bus's gateway-id space: no gateway may take this id.
 */
export const REPLICAS_CHANNEL = "agent-service-replicas";

/** How admin commands tell every replica that they stored a change to an HTTP agent. */
export interface ReplicaNotices {
  changed(instanceUid: string, connectionId: string): Promise<void>;
}

/** Replica notices over the push bus; a lost one costs a stale reply until the agent's next stored change. */
export function replicaNoticesOver(bus: PushBus): ReplicaNotices {
  return {
    async changed(instanceUid, connectionId) {
      await bus.publish(REPLICAS_CHANNEL, { instanceUid, connectionId });
    },
  };
}

/** Marks cached agents stale when any replica (this one included) says it changed them. */
export function listenForReplicaChanges(bus: PushBus, store: AgentStore, logger: Logger): Promise<PushSubscription> {
  return bus.subscribe(
    REPLICAS_CHANNEL,
    (notice) => store.markStale(notice.instanceUid),
    () => logger.info({}, "push bus back: notices of other replicas' changes may have been missed"),
  );
}
