import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import type { AnyValueSchema, KeyValueSchema } from "@fleetplane/gen/opamp/proto/anyvalue_pb";
import { AgentToServerSchema, type ComponentHealthSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import fc from "fast-check";
import { gzipSync } from "node:zlib";

/**
 * What the fuzzer sends, as data (so fast-check can print and shrink it):
 * frames on one fresh WebSocket, or one plain-HTTP request. Bodies are built
 * from valid-ish AgentToServer messages and then mutated, or are garbage.
 */
export type FuzzInput = WsInput | HttpInput;

export interface WsInput {
  kind: "ws";
  /** Each frame as sent (header byte included, or not: that is one of the mutations). */
  frames: Body[];
  /** Send as text frames instead of binary. */
  text: boolean;
}

export interface HttpInput {
  kind: "http";
  method: "POST" | "GET" | "PUT";
  path: string;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  body: Body;
}

/** A body: literal bytes, or a gzip bomb (zeros that inflate to `inflatedMiB`), built when sent. */
export type Body = { bytes: Uint8Array } | { gzipBombMiB: number };

/**
 * A small pool of valid 16-byte instance UIDs, so that valid-ish messages
 * talk about the same few agents again and again (reports, config statuses
 * and disconnects for agents the server knows) instead of creating a new
 * agent for every input.
 */
const UID_POOL = Array.from({ length: 24 }, (_, i) => Uint8Array.from({ length: 16 }, (_, j) => (j === 6 ? 0x70 : j === 8 ? 0x80 : (i * 37 + j * 11) & 0xff)));

const uid = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...UID_POOL) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(new Uint8Array(0), new Uint8Array(15), new Uint8Array(16), new Uint8Array(17), new Uint8Array(36)) },
);

const u64 = fc.oneof(fc.constantFrom(0n, 1n, 2n ** 63n, 2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));

/** Strings: short and odd (unicode, NUL, surrogate halves). */
const text = fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: 40, unit: "grapheme" }) }, { weight: 1, arbitrary: fc.string({ maxLength: 20, unit: "binary" }) });

/** Attribute values: mostly short, rarely long (within the server's message limit; a long one costs every input after it time). */
const attributeText = fc.oneof({ weight: 300, arbitrary: text }, { weight: 1, arbitrary: fc.constantFrom(1_000, 100_000, 1_000_000).map((n) => "x".repeat(n)) });

type AnyValueInit = MessageInitShape<typeof AnyValueSchema>;
type KeyValueInit = MessageInitShape<typeof KeyValueSchema>;

const { anyValue } = fc.letrec<{ anyValue: AnyValueInit; keyValue: KeyValueInit }>((tie) => ({
  anyValue: fc.oneof(
    { depthSize: "small", maxDepth: 4, withCrossShrink: true },
    fc.record({ value: fc.record({ case: fc.constant("stringValue" as const), value: attributeText }) }),
    fc.record({ value: fc.record({ case: fc.constant("boolValue" as const), value: fc.boolean() }) }),
    fc.record({ value: fc.record({ case: fc.constant("intValue" as const), value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) }) }),
    fc.record({ value: fc.record({ case: fc.constant("doubleValue" as const), value: fc.double() }) }),
    fc.record({ value: fc.record({ case: fc.constant("bytesValue" as const), value: fc.uint8Array({ maxLength: 64 }) }) }),
    fc.record({ value: fc.record({ case: fc.constant("arrayValue" as const), value: fc.record({ values: fc.array(tie("anyValue") as fc.Arbitrary<AnyValueInit>, { maxLength: 4 }) }) }) }),
    fc.record({ value: fc.record({ case: fc.constant("kvlistValue" as const), value: fc.record({ values: fc.array(tie("keyValue") as fc.Arbitrary<KeyValueInit>, { maxLength: 4 }) }) }) }),
    fc.constant({}),
  ),
  keyValue: fc.record({ key: text, value: tie("anyValue") as fc.Arbitrary<AnyValueInit> }),
}));

/** Attribute lists: a few arbitrary ones, or many generated ones (the "huge description" shape, kept within limits). */
const attributes = fc.oneof(
  { weight: 50, arbitrary: fc.array(fc.record({ key: text, value: anyValue }), { maxLength: 8 }) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 100, max: 3_000 }).map((n) => Array.from({ length: n }, (_, i): KeyValueInit => ({ key: `attr.${i}`, value: { value: { case: "stringValue", value: `v${i}` } } }))),
  },
);

type HealthInit = MessageInitShape<typeof ComponentHealthSchema>;
const { health } = fc.letrec<{ health: HealthInit }>((tie) => ({
  health: fc.record(
    {
      healthy: fc.boolean(),
      startTimeUnixNano: u64,
      lastError: text,
      status: text,
      statusTimeUnixNano: u64,
      componentHealthMap: fc.oneof({ depthSize: "small", maxDepth: 3 }, fc.constant({}), fc.dictionary(text, tie("health") as fc.Arbitrary<HealthInit>, { maxKeys: 3 })),
    },
    { requiredKeys: [] },
  ),
}));

const agentToServer = fc.record(
  {
    instanceUid: uid,
    sequenceNum: u64,
    capabilities: u64,
    flags: u64,
    agentDescription: fc.record({ identifyingAttributes: attributes, nonIdentifyingAttributes: attributes }, { requiredKeys: [] }),
    health,
    effectiveConfig: fc.record({ configMap: fc.record({ configMap: fc.dictionary(text, fc.record({ body: fc.uint8Array({ maxLength: 256 }), contentType: text })) }) }),
    remoteConfigStatus: fc.record({ lastRemoteConfigHash: fc.uint8Array({ maxLength: 40 }), status: fc.integer({ min: -1, max: 9 }), errorMessage: text }),
    packageStatuses: fc.record({ serverProvidedAllPackagesHash: fc.uint8Array({ maxLength: 40 }), errorMessage: text }),
    agentDisconnect: fc.constant({}),
    connectionSettingsRequest: fc.record({ opamp: fc.record({ certificateRequest: fc.record({ csr: fc.uint8Array({ maxLength: 300 }) }) }) }),
    customCapabilities: fc.record({ capabilities: fc.array(text, { maxLength: 5 }) }),
    customMessage: fc.record({ capability: text, type: text, data: fc.uint8Array({ maxLength: 200 }) }),
  },
  { requiredKeys: ["instanceUid", "sequenceNum", "capabilities"] },
).map((fields) => toBinary(AgentToServerSchema, create(AgentToServerSchema, fields as MessageInitShape<typeof AgentToServerSchema>)));

/** `a` then `b` in a new array (spreading a message into a JS array first cost more than generating it). */
function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** A message, then maybe broken: truncated, bytes flipped, garbage appended. */
const protobufBody: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 5, arbitrary: agentToServer },
  { weight: 2, arbitrary: fc.tuple(agentToServer, fc.double({ min: 0, max: 1, noNaN: true })).map(([b, at]) => b.subarray(0, Math.floor(b.length * at))) },
  {
    weight: 2,
    arbitrary: fc.tuple(agentToServer, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 })).map(([b, flips]) => {
      const out = Uint8Array.from(b);
      for (const [at, v] of flips) if (out.length > 0) out[at % out.length] = v;
      return out;
    }),
  },
  { weight: 1, arbitrary: fc.tuple(agentToServer, fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([b, tail]) => concatBytes(b, tail)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 512 }) },
);

/** The OpAMP WebSocket header (a varint, 0 today) in front of a body, or a wrong one, or none. */
const wsFrame: fc.Arbitrary<Body> = fc
  .tuple(fc.oneof({ weight: 6, arbitrary: fc.constant([0]) }, { weight: 3, arbitrary: fc.constantFrom([], [1], [0x7f], [0x80], [0x80, 0x01], [0xff, 0xff, 0xff]) }), protobufBody)
  .map(([header, body]) => ({ bytes: concatBytes(Uint8Array.from(header), body) }));

export const wsInput: fc.Arbitrary<WsInput> = fc.record({
  kind: fc.constant("ws" as const),
  frames: fc.array(wsFrame, { minLength: 1, maxLength: 4 }),
  // Text frames are a protocol error of their own; one input in ten is enough.
  text: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
});

const gzipped = (body: Uint8Array): Uint8Array => new Uint8Array(gzipSync(body, { level: 1 }));

export const httpInput: fc.Arbitrary<HttpInput> = fc.oneof(
  // Valid-ish protobuf, plain or gzipped (then maybe cut), with odd headers now and then.
  { weight: 300, arbitrary: fc.record({
    kind: fc.constant("http" as const),
    method: fc.oneof({ weight: 10, arbitrary: fc.constant("POST" as const) }, { weight: 1, arbitrary: fc.constantFrom("GET" as const, "PUT" as const) }),
    path: fc.oneof({ weight: 10, arbitrary: fc.constantFrom("/v1/opamp", "/api/v1/opamp") }, { weight: 1, arbitrary: fc.constantFrom("/", "/v1/opamp/x", "/v1/opamp?x=%zz", "//v1/opamp") }),
    contentType: fc.oneof(
      { weight: 10, arbitrary: fc.constant("application/x-protobuf") },
      { weight: 2, arbitrary: fc.constantFrom(undefined, "application/json", "text/plain", "application/x-protobuf; charset=utf-8", "APPLICATION/X-PROTOBUF", "application/x-protobufx", "multipart/form-data; boundary=x") },
    ),
    contentEncoding: fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: fc.constant("gzip") }, { weight: 1, arbitrary: fc.constantFrom("deflate", "br", "gzip, gzip", "identity", "x") }),
    body: protobufBody,
  }).chain((input) =>
    input.contentEncoding === "gzip"
      ? fc.oneof(
          { weight: 4, arbitrary: fc.constant(1) },
          { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) },
        ).map((keep) => {
          const zipped = gzipped(input.body);
          return { ...input, body: { bytes: zipped.subarray(0, Math.floor(zipped.length * keep)) } };
        })
      : fc.constant({ ...input, body: { bytes: input.body } }),
  ) },
  // Gzip bombs: zeros that inflate to under, at, and over the message limit (64 MiB by default).
  {
    weight: 1,
    arbitrary: fc.constantFrom(1, 16, 63, 65, 200).map((mib): HttpInput => ({ kind: "http", method: "POST", path: "/v1/opamp", contentType: "application/x-protobuf", contentEncoding: "gzip", body: { gzipBombMiB: mib } })),
  },
) as fc.Arbitrary<HttpInput>;

/** Every input, WebSocket and HTTP alike. */
export const fuzzInput: fc.Arbitrary<FuzzInput> = fc.oneof(wsInput, httpInput);
