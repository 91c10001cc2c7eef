import type { PushBus, PushNotice, PushSubscription } from "@fleetplane/platform";

/**
 * Pushes between a standalone process and its gateway workers, over the IPC
 * channel Node opens between a parent and the child it forked. The channel is
 * a socket pair only those two processes hold, so nothing else can write to
 * it: it needs no token, unlike the internal listener the workers report on.
 */
export interface PushMessage {
  kind: "push";
  notice: PushNotice;
}

/** The part of a forked child (or cluster Worker) the primary side needs. */
export interface ChannelEnd {
  send(message: PushMessage): boolean;
  isConnected(): boolean;
}

/**
 * The primary's side: forwards the notices agent-service publishes for one
 * worker's gateway id over that worker's channel.
 */
export async function forwardPushesTo(bus: PushBus, gatewayId: string, worker: ChannelEnd): Promise<PushSubscription> {
  return bus.subscribe(gatewayId, (notice) => {
    // A worker that is gone (crashed, stopping) holds no sockets: the notice
    // is stale, and the agent reconciles on its next message elsewhere.
    if (worker.isConnected()) worker.send({ kind: "push", notice });
  });
}

/**
 * The worker's side: a PushBus that delivers what the primary forwards to
 * the gateway's subscription. It only receives; agent-service runs in the
 * primary and publishes there.
 */
export function createWorkerChannelPushBus(channel: { on(event: "message", listener: (m: unknown) => void): unknown }): PushBus {
  const handlers = new Set<(n: PushNotice) => void>();
  channel.on("message", (m) => {
    if (isPushMessage(m)) for (const h of handlers) h(m.notice);
  });
  return {
    async publish() {
      return false; // never called on a gateway: nothing to publish to from here
    },
    async subscribe(_gatewayId, onNotice): Promise<PushSubscription> {
      handlers.add(onNotice);
      return { unsubscribe: async () => void handlers.delete(onNotice) };
    },
    async close() {
      handlers.clear();
    },
  };
}

function isPushMessage(m: unknown): m is PushMessage {
  return typeof m === "object" && m !== null && (m as PushMessage).kind === "push" && typeof (m as PushMessage).notice?.instanceUid === "string";
}
