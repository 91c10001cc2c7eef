import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { createInProcessPushBus } from "@fleetplane/platform-node";
import type { PushNotice } from "@fleetplane/platform";
import { createWorkerChannelPushBus, forwardPushesTo, type PushMessage } from "./worker-channel-push-bus.js";

const notice: PushNotice = { instanceUid: "0123456789abcdef0123456789abcdef", connectionId: "g-w1/ws/1" };

describe("pushes over a gateway worker's channel", () => {
  it("the primary forwards the notices of a worker's gateway id, and only those, while the worker is connected", async () => {
    const bus = createInProcessPushBus();
    const sent: PushMessage[] = [];
    let connected = true;
    await forwardPushesTo(bus, "g-w1", { send: (m) => (sent.push(m), true), isConnected: () => connected });
    await bus.publish("g-w1", notice);
    await bus.publish("g-w2", { ...notice, connectionId: "g-w2/ws/1" });
    await new Promise((r) => setTimeout(r, 0));
    expect(sent).toEqual([{ kind: "push", notice }]);
    connected = false;
    await bus.publish("g-w1", notice);
    await new Promise((r) => setTimeout(r, 0));
    expect(sent).toHaveLength(1);
  });

  it("the worker's bus hands push messages to its subscriber and ignores anything else on the channel", async () => {
    const channel = new EventEmitter();
    const bus = createWorkerChannelPushBus(channel);
    const got: PushNotice[] = [];
    const sub = await bus.subscribe("g-w1", (n) => got.push(n));
    channel.emit("message", { kind: "stop" });
    channel.emit("message", { kind: "push", notice: { connectionId: "no uid" } });
    channel.emit("message", { kind: "push", notice });
    expect(got).toEqual([notice]);
    await sub.unsubscribe();
    channel.emit("message", { kind: "push", notice });
    expect(got).toHaveLength(1);
  });
});
