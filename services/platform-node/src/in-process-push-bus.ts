import type { PushBus, PushNotice, PushSubscription } from "@fleetplane/platform";

/** Standalone mode: gateway and agent-service share a process, so a map of callbacks is the bus. */
export function createInProcessPushBus(): PushBus {
  const subscribers = new Map<string, Set<(n: PushNotice) => void>>();
  return {
    async publish(gatewayId, notice) {
      const handlers = subscribers.get(gatewayId);
      if (!handlers || handlers.size === 0) return false;
      // Deliver asynchronously, as a real bus would: the publisher must never
      // depend on the subscriber running inside its own call stack.
      for (const h of handlers) queueMicrotask(() => h(notice));
      return true;
    },
    async subscribe(gatewayId, onNotice): Promise<PushSubscription> {
      let handlers = subscribers.get(gatewayId);
      if (!handlers) subscribers.set(gatewayId, (handlers = new Set()));
      handlers.add(onNotice);
      return {
        async unsubscribe() {
          handlers.delete(onNotice);
        },
      };
    },
    async close() {
      subscribers.clear();
    },
  };
}
