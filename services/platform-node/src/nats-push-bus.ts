import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { Counter } from "prom-client";
import { assertGatewayId, LogRateLimit, type Logger, type PushBus, type PushNotice, type PushSubscription } from "@fleetplane/platform";
import { metricsRegistry } from "./metrics.js";

/**
 * One subject per gateway replica: agent-service publishes a notice to the
 * subject of the gateway recorded on the agent, so only that gateway hears it
 * (no broadcast for every gateway to filter).
 */
export const pushSubject = (gatewayId: string) => `fleetplane.push.${assertGatewayId(gatewayId)}`;

const notices = new Counter({
  name: "fleetplane_nats_push_notices_total",
  help: "Push notices handed to NATS (published), refused (not connected or failed) and received",
  labelNames: ["result"],
  registers: [metricsRegistry],
});
const published = notices.labels("published");
const refused = notices.labels("refused");
const received = notices.labels("received");

export interface NatsPushBusOptions {
  url: string;
  /** Shown in `nats-server` connection lists. */
  name: string;
  logger: Logger;
}

/**
 * The push bus over NATS core pub/sub. The connection is made in the
 * background and re-made forever, so a service starts and keeps serving
 * agents while NATS is down: notices published meanwhile are buffered by the
 * client while it reconnects, and those it cannot take are harmless because
 * the desired state is stored first (the agent's next message reconciles).
 */
export interface NatsPushBus extends PushBus {
  readonly connected: boolean;
  /** Resolves true once connected, or false after `timeoutMs` (the bus keeps trying). */
  whenConnected(timeoutMs: number): Promise<boolean>;
}

export function createNatsPushBus(o: NatsPushBusOptions): NatsPushBus {
  const log = o.logger.child({ component: "nats" });
  // Per-notice lines (a publish while NATS is away, a peer sending garbage): one per kind per 10 s, with the count left out.
  const lines = new LogRateLimit({ intervalMs: 10_000 });
  const wanted = new Map<string, { onNotice: (n: PushNotice) => void; onReconnected?: (() => void) | undefined; sub?: Subscription }>();
  let nc: NatsConnection | undefined;
  let closed = false;
  let up = false;
  let markConnected: () => void = () => {};
  const firstConnect = new Promise<void>((resolve) => (markConnected = resolve));

  const attach = (gatewayId: string) => {
    const entry = wanted.get(gatewayId);
    if (!nc || !entry || entry.sub) return;
    entry.sub = nc.subscribe(pushSubject(gatewayId), {
      callback: (err, msg) => {
        if (err) {
          const extra = lines.take("subscription");
          if (extra) log.warn({ err: String(err), gateway: gatewayId, ...extra }, "push subscription error");
          return;
        }
        received.inc();
        const notice = decodeNotice(msg.data);
        if (!notice) {
          const extra = lines.take("malformed");
          if (extra) log.warn({ gateway: gatewayId, bytes: msg.data.length, ...extra }, "ignoring a malformed push notice");
          return;
        }
        entry.onNotice(notice);
      },
    });
  };

  const connecting = (async () => {
    try {
      const conn = await connect({
        servers: o.url.split(",").map((s) => s.trim()).filter(Boolean),
        name: o.name,
        waitOnFirstConnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        pingInterval: 10_000,
      });
      if (closed) return void (await conn.close());
      nc = conn;
      up = true;
      markConnected();
      log.info({ url: o.url }, "connected to NATS");
      for (const id of wanted.keys()) attach(id);
      void (async () => {
        for await (const s of conn.status()) {
          if (s.type === "disconnect") {
            up = false;
            log.warn({ url: o.url }, "NATS connection lost; reconnecting (pushes wait, agents still get changes on their next message)");
          } else if (s.type === "reconnect") {
            up = true;
            log.info({ url: o.url }, "NATS connection restored");
            for (const entry of wanted.values()) entry.onReconnected?.();
          }
        }
      })();
    } catch (err) {
      if (!closed) log.error({ err: String(err), url: o.url }, "cannot connect to NATS; pushes are disabled until restart");
    }
  })();

  return {
    get connected() {
      return up;
    },
    async whenConnected(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
      const ok = await Promise.race([firstConnect.then(() => true), timedOut]);
      clearTimeout(timer);
      return ok;
    },
    async publish(gatewayId, notice) {
      if (!nc || nc.isClosed()) {
        refused.inc();
        return false;
      }
      try {
        nc.publish(pushSubject(gatewayId), encodeNotice(notice));
        published.inc();
        return true;
      } catch (err) {
        refused.inc();
        const extra = lines.take("publish");
        if (extra) log.warn({ err: String(err), gateway: gatewayId, agent: notice.instanceUid, ...extra }, "could not publish a push notice; the agent gets the change on its next message");
        return false;
      }
    },
    async subscribe(gatewayId, onNotice, onReconnected): Promise<PushSubscription> {
      pushSubject(gatewayId); // validates before anything is registered
      wanted.set(gatewayId, { onNotice, onReconnected });
      attach(gatewayId);
      return {
        async unsubscribe() {
          const entry = wanted.get(gatewayId);
          wanted.delete(gatewayId);
          entry?.sub?.unsubscribe();
        },
      };
    },
    async close() {
      closed = true;
      wanted.clear();
      if (nc && !nc.isClosed()) {
        // drain() flushes buffered publishes; it fails on a dead connection.
        await nc.drain().catch(() => nc!.close());
      }
      await Promise.race([connecting, Promise.resolve()]);
    },
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeNotice(n: PushNotice): Uint8Array {
  return encoder.encode(JSON.stringify({ u: n.instanceUid, c: n.connectionId, ...(n.close ? { x: true } : {}), ...(n.request !== undefined ? { r: n.request } : {}), ...(n.revision !== undefined ? { v: n.revision } : {}) }));
}

function decodeNotice(data: Uint8Array): PushNotice | undefined {
  try {
    const v = JSON.parse(decoder.decode(data)) as { u?: unknown; c?: unknown; x?: unknown; r?: unknown; v?: unknown };
    if (typeof v.u !== "string" || typeof v.c !== "string") return undefined;
    return { instanceUid: v.u, connectionId: v.c, ...(v.x === true ? { close: true } : {}), ...(typeof v.r === "string" ? { request: v.r } : {}), ...(typeof v.v === "string" && /^\d+$/.test(v.v) ? { revision: v.v } : {}) };
  } catch {
    return undefined;
  }
}
