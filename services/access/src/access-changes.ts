import type { Logger, PushBus, PushSubscription } from "@fleetplane/platform";
import type { CredentialCache } from "./credential-cache.js";
import type { OpenStreams } from "./open-streams.js";

/**
 * The push bus channel on which admin API replicas tell each other "the
 * credentials of identity X changed" (a key revoked, a role binding made or
 * deleted). Shares the bus's gateway-id space, like agent-service's replica
 * channel: no gateway may take this id (the server refuses it as --gateway-id). The notice's instanceUid field
 * carries the identity; its connectionId is ACCESS_NOTICE.
 */
export const ACCESS_CHANNEL = "access-changes";
const ACCESS_NOTICE = "access";

/** How AccessService tells this replica and the others that an identity's access changed. */
export interface AccessChanges {
  /**
   * Forgets what this replica cached about `identity` and checks its open
   * streams again before resolving its local part (so this replica refuses
   * the next call at once), then announces it to the other replicas.
   */
  changed(identity: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Access changes over the push bus (NATS between processes, in process in
 * standalone); `bus` undefined (command-service alone): this replica only,
 * the others see the change within the cache's TTL. A lost notice costs the
 * same: the change is seen at the latest when the TTL runs out, and open
 * streams at the next periodic check.
 */
export function accessChanges(o: { bus: PushBus | undefined; cache: CredentialCache; streams: OpenStreams; logger: Logger }): AccessChanges {
  const apply = async (identity: string) => {
    o.cache.forget(identity);
    await o.streams.recheck(identity);
  };
  const subscription: Promise<PushSubscription> | undefined = o.bus?.subscribe(
    ACCESS_CHANNEL,
    (notice) => {
      if (notice.connectionId === ACCESS_NOTICE) void apply(notice.instanceUid);
    },
    () => {
      // Notices sent while the bus was down are lost: trust nothing cached.
      o.logger.info({}, "push bus back: access changes of other replicas may have been missed; credential cache cleared");
      o.cache.clear();
      void o.streams.recheck();
    },
  );
  return {
    async changed(identity) {
      await apply(identity);
      if (!o.bus) return;
      const sent = await o.bus.publish(ACCESS_CHANNEL, { instanceUid: identity, connectionId: ACCESS_NOTICE });
      if (!sent) o.logger.warn({ identity }, "could not announce an access change to the other replicas; they see it within the credential cache's TTL");
    },
    async close() {
      await (await subscription)?.unsubscribe();
    },
  };
}
