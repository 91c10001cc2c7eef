import { clone, create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { AgentSchema, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { ownBytes } from "@fleetplane/platform";
import { SHARED_CONFIG_MAX_BYTES, SharedValues } from "./shared-values.js";

const str = (key: string, value: string) => ({ key, value: { value: { case: "stringValue" as const, value } } });
const text = (s: string) => new TextEncoder().encode(s);

/**
 * An agent as a report leaves it; `body`: its effective config's one file.
 * `frame`: what the report was decoded from — a Buffer when it came in a
 * WebSocket frame in-process, whose subarray (and slice) is a Buffer view.
 */
function agent(host: string, instance: string, body = "receivers: {}\n", frame: Uint8Array = new Uint8Array(body.length + 64)): Agent {
  // Bytes as decoded: a view of a larger buffer.
  frame.set(text(body), 32);
  return create(AgentSchema, {
    metadata: {
      namespace: "default",
      credential: "token:t1",
      description: {
        identifyingAttributes: [str("service.name", "otelcol"), str("service.instance.id", instance)],
        nonIdentifyingAttributes: [str("host.name", host), { key: "cores", value: { value: { case: "intValue", value: 8n } } }],
      },
    },
    status: {
      gatewayId: "gw-1",
      gatewayEpoch: "0190a8b2-aaaa-7000-8000-000000000000",
      effectiveConfig: { configMap: { configMap: { "": { body: frame.subarray(32, 32 + body.length), contentType: "text/yaml" } } } },
    },
  });
}

describe("values shared between cached agents", () => {
  it("gives equal string attributes of different agents one frozen copy, and keeps every agent's content", () => {
    const shared = new SharedValues();
    const [a, b, c] = [agent("h1", "a"), agent("h1", "b"), agent("h2", "c")];
    const encoded = [a, b, c].map((x) => toBinary(AgentSchema, x));
    for (const x of [a, b, c]) shared.share(x);
    const [da, db, dc] = [a, b, c].map((x) => x.metadata!.description!);

    expect(db!.identifyingAttributes[0]).toBe(da!.identifyingAttributes[0]); // service.name=otelcol
    expect(db!.nonIdentifyingAttributes[0]).toBe(da!.nonIdentifyingAttributes[0]); // host.name=h1
    expect(dc!.nonIdentifyingAttributes[0]).not.toBe(da!.nonIdentifyingAttributes[0]); // h2 is another value
    expect(db!.identifyingAttributes[1]).not.toBe(da!.identifyingAttributes[1]); // each its own instance id
    // Only string values are shared; the description object and its arrays stay each agent's own.
    expect(db!.nonIdentifyingAttributes[1]).not.toBe(da!.nonIdentifyingAttributes[1]);
    expect(db!.identifyingAttributes).not.toBe(da!.identifyingAttributes);
    expect([a, b, c].map((x) => toBinary(AgentSchema, x))).toEqual(encoded);

    const kv = da!.identifyingAttributes[0]!;
    expect(Object.isFrozen(kv) && Object.isFrozen(kv.value) && Object.isFrozen(kv.value!.value)).toBe(true);
    // A write through one agent would be every agent's: it throws instead.
    expect(() => {
      (kv.value!.value as { value: string }).value = "changed";
    }).toThrow(TypeError);
    expect(db!.identifyingAttributes[0]!.value!.value.value).toBe("otelcol");
    // Copies (what readers get) are their own, and not frozen.
    const copy = clone(AgentSchema, b);
    copy.metadata!.description!.identifyingAttributes[0]!.key = "renamed";
    expect(kv.key).toBe("service.name");
  });

  it.each([
    ["Uint8Array", () => new Uint8Array(128)],
    ["Buffer", () => Buffer.alloc(128)],
  ])("gives equal effective configs one frozen copy whose bytes own their buffer, which ownBytes leaves alone (decoded from a %s)", (_kind, frame) => {
    const shared = new SharedValues();
    const [a, b, c] = [agent("h1", "a", undefined, frame()), agent("h1", "b", undefined, frame()), agent("h1", "c", "receivers: {otlp: {}}\n", frame())];
    for (const x of [a, b, c]) shared.share(x);
    const config = a.status!.effectiveConfig!;
    expect(b.status!.effectiveConfig).toBe(config);
    expect(c.status!.effectiveConfig).not.toBe(config);
    const file = config.configMap!.configMap[""]!;
    expect(new TextDecoder().decode(file.body)).toBe("receivers: {}\n");
    expect(file.body.byteOffset === 0 && file.body.byteLength === file.body.buffer.byteLength).toBe(true);
    expect(Object.isFrozen(file) && Object.isFrozen(config.configMap) && Object.isFrozen(config)).toBe(true);
    expect(() => ownBytes(b)).not.toThrow();
    expect(() => {
      file.body = new Uint8Array(0);
    }).toThrow(TypeError);

    // Past the size bound, a config stays the agent's own.
    const big = "x".repeat(SHARED_CONFIG_MAX_BYTES + 1);
    const [d, e] = [agent("h1", "d", big), agent("h1", "e", big)];
    for (const x of [d, e]) shared.share(x);
    expect(e.status!.effectiveConfig).not.toBe(d.status!.effectiveConfig);
    expect(Object.isFrozen(d.status!.effectiveConfig)).toBe(false);
  });

  it("shares the strings naming the agents' gateway, namespace and credential", () => {
    const shared = new SharedValues();
    const [a, b] = [agent("h1", "a"), agent("h1", "b")];
    // Decoded strings are each a string of their own; equal ones become one.
    b.status!.gatewayEpoch = ["0190a8b2-aaaa-7000-8000", "000000000000"].join("-");
    for (const x of [a, b]) shared.share(x);
    expect(b.status!.gatewayEpoch).toBe(a.status!.gatewayEpoch);
    expect(shared.size.strings).toBe(4); // default, token:t1, gw-1, the epoch
  });

  it("remembers at most its bound of distinct values, then starts over and shares again", () => {
    const shared = new SharedValues(4);
    const first = agent("h1", "i0");
    shared.share(first); // 3 distinct string attributes
    shared.share(agent("h1", "i1")); // 4
    expect(shared.size.attributes).toBe(4);
    const fifth = agent("h1", "i2"); // its instance id is the 5th: the pool starts over with it
    shared.share(fifth);
    expect(shared.size.attributes).toBe(2); // i2, then h1 again
    const sixth = agent("h1", "i3");
    shared.share(sixth);
    expect(shared.size.attributes).toBeLessThanOrEqual(4);
    // Shared again in the new pool (not with the first generation's copies).
    expect(sixth.metadata!.description!.identifyingAttributes[0]).not.toBe(first.metadata!.description!.identifyingAttributes[0]);
    expect(sixth.metadata!.description!.nonIdentifyingAttributes[0]).toBe(fifth.metadata!.description!.nonIdentifyingAttributes[0]);
  });
});
