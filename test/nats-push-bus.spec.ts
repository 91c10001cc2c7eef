import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger, type PushNotice } from "@fleetplane/platform";
import { metricsRegistry } from "@fleetplane/platform-node";
import { createNatsPushBus, pushSubject } from "@fleetplane/platform-node/nats";
import { startNats, type RunningNats } from "./support/nats.js";
import { eventually } from "./support/eventually.js";

let nats: RunningNats | undefined;
let port: number;
beforeAll(async () => {
  nats = await startNats();
  port = nats.port;
});
afterAll(async () => {
  await nats?.stop();
});

const bus = (name: string) => createNatsPushBus({ url: `nats://127.0.0.1:${port}`, name, logger: silentLogger() });

describe("the NATS push bus", () => {
  it("delivers a notice only to the gateway it names", async () => {
    const publisher = bus("agent-service");
    const a = bus("gw-a");
    const b = bus("gw-b");
    const gotA: PushNotice[] = [];
    const gotB: PushNotice[] = [];
    await a.subscribe("gw-a", (n) => gotA.push(n));
    await b.subscribe("gw-b", (n) => gotB.push(n));
    await eventually(() => a.connected && b.connected && publisher.connected, 10_000, "connected");

    // Subscriptions reach the server asynchronously: publish until the first lands.
    await eventually(async () => (await publisher.publish("gw-a", { instanceUid: "aa", connectionId: "c1" }), gotA.length > 0), 10_000, "first notice");
    expect(gotA[0]).toEqual({ instanceUid: "aa", connectionId: "c1" });
    await publisher.publish("gw-b", { instanceUid: "bb", connectionId: "c2" });
    await eventually(() => gotB.length === 1, 5_000, "notice for gw-b");
    expect(gotB[0]).toEqual({ instanceUid: "bb", connectionId: "c2" });
    expect(gotA.every((n) => n.instanceUid === "aa")).toBe(true);
    const counted = (await metricsRegistry.getSingleMetric("fleetplane_nats_push_notices_total")!.get()).values;
    const count = (result: string) => counted.find((v) => v.labels.result === result)?.value ?? 0;
    expect(count("published")).toBeGreaterThanOrEqual(2);
    expect(count("received")).toBeGreaterThanOrEqual(2);
    await Promise.all([publisher.close(), a.close(), b.close()]);
  });

  it("keeps running while NATS is down, and tells subscribers when it is back so they reconcile", async () => {
    const publisher = bus("agent-service");
    const gateway = bus("gw-c");
    const got: PushNotice[] = [];
    let reconnected = 0;
    await gateway.subscribe("gw-c", (n) => got.push(n), () => reconnected++);
    await eventually(() => gateway.connected && publisher.connected, 10_000, "connected");
    await eventually(async () => (await publisher.publish("gw-c", { instanceUid: "warmup", connectionId: "c" }), got.length > 0), 10_000, "warm-up notice");

    await nats!.stop();
    await eventually(() => !publisher.connected && !gateway.connected, 10_000, "both see the outage");
    // The client buffers while reconnecting: publishing neither throws nor blocks.
    expect(await publisher.publish("gw-c", { instanceUid: "during-outage", connectionId: "c" })).toBe(true);

    nats = await startNats({ port });
    await eventually(() => reconnected === 1, 20_000, "reconnect callback");
    // And the subscription works again.
    await eventually(async () => (await publisher.publish("gw-c", { instanceUid: "after", connectionId: "c" }), got.some((n) => n.instanceUid === "after")), 10_000, "notice after the outage");
    await Promise.all([publisher.close(), gateway.close()]);
  });

  it("refuses gateway ids that are not a single subject token", () => {
    expect(() => pushSubject("gw.a")).toThrow(/gateway id/);
    expect(() => pushSubject("gw*")).toThrow(/gateway id/);
    expect(pushSubject("gw-a_1")).toBe("fleetplane.push.gw-a_1");
  });
});
