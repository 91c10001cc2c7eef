import { create, createFileRegistry, fromBinary, ScalarType, toBinary, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { AgentSchema, ConnectionSchema } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentToServerSchema, ServerToAgentSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { prefixedBinaryEncoder } from "./prefixed-binary-encoder.js";

/** A seeded generator, so a failing shape can be replayed from its seed. */
function random(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(xs: readonly T[]) => xs[int(xs.length)]! };
}
type Random = ReturnType<typeof random>;

const STRINGS = ["", "a", "service.name", "héllo", "日本語", "emoji 🚀", "lone \ud800 surrogate", "x".repeat(127), "y".repeat(128), "z".repeat(20_000)];

function scalar(type: ScalarType, r: Random): unknown {
  switch (type) {
    case ScalarType.STRING:
      return r.pick(STRINGS);
    case ScalarType.BYTES:
      return r.pick([0, 1, 16, 127, 128, 300, 17_000]) === 0 ? new Uint8Array(0) : Uint8Array.from({ length: r.pick([1, 16, 127, 128, 300, 17_000]) }, (_, i) => (i * 31 + 7) & 0xff);
    case ScalarType.BOOL:
      return r.next() < 0.5;
    case ScalarType.DOUBLE:
      return r.pick([0, -0, 1.5, -2.25e300, Number.NaN, Number.POSITIVE_INFINITY, 5e-324]);
    case ScalarType.FLOAT:
      return r.pick([0, -0, 1.5, -3.25, 3.4028234663852886e38]);
    case ScalarType.INT32:
    case ScalarType.SFIXED32:
    case ScalarType.SINT32:
      return r.pick([0, 1, -1, 127, 128, 300, 2_147_483_647, -2_147_483_648]);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return r.pick([0, 1, 127, 128, 16_384, 4_294_967_295]);
    case ScalarType.INT64:
    case ScalarType.SFIXED64:
    case ScalarType.SINT64:
      return r.pick([0n, 1n, -1n, 127n, 128n, 1_764_000_000n, 9_223_372_036_854_775_807n, -9_223_372_036_854_775_808n]);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return r.pick([0n, 1n, 127n, 128n, 1_764_000_000_000_000_000n, 18_446_744_073_709_551_615n]);
  }
}

/** A message of `desc` with each field set or not at random, nested up to `depth`. */
function fuzzed(desc: DescMessage, r: Random, depth: number): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  const value = (f: DescField, kind: "message" | "enum" | "scalar"): unknown => {
    if (kind === "message") return fuzzed((f as { message: DescMessage }).message, r, depth - 1);
    if (kind === "enum") return r.pick((f as { enum: { values: Array<{ number: number }> } }).enum.values).number;
    return scalar((f as { scalar: ScalarType }).scalar, r);
  };
  for (const f of desc.fields) {
    if (r.next() < 0.35) continue;
    const kind = f.fieldKind === "list" ? f.listKind : f.fieldKind === "map" ? f.mapKind : f.fieldKind;
    if (kind === "message" && depth <= 0) continue;
    const n = r.pick([0, 1, 2, 3]);
    switch (f.fieldKind) {
      case "list":
        init[f.localName] = Array.from({ length: n }, () => value(f, f.listKind));
        break;
      case "map":
        init[f.localName] = Object.fromEntries(Array.from({ length: n }, (_, i) => [r.pick(["", "k", "config.yaml", "pipeline:traces", `key ${i}`]), value(f, f.mapKind)]));
        break;
      default:
        if (f.oneof) {
          if (init[f.oneof.localName]) continue;
          init[f.oneof.localName] = { case: f.localName, value: value(f, f.fieldKind) };
        } else {
          init[f.localName] = value(f, f.fieldKind);
        }
    }
  }
  return create(desc, init) as unknown as Record<string, unknown>;
}

/**
 * Every scalar type, singular (implicit and explicit presence), repeated
 * (packed where proto3 packs) and as map values: the stored and OpAMP
 * schemas have no sint, sfixed or float fields, and the encoder covers them.
 */
function allScalarsSchema(): DescMessage {
  const T = FieldDescriptorProto_Type;
  const types = [T.DOUBLE, T.FLOAT, T.INT64, T.UINT64, T.INT32, T.FIXED64, T.FIXED32, T.BOOL, T.STRING, T.BYTES, T.UINT32, T.SFIXED32, T.SFIXED64, T.SINT32, T.SINT64];
  const field = [];
  const nestedType = [];
  let no = 1;
  for (const type of types) {
    field.push({ name: `s${type}`, number: no++, type, label: FieldDescriptorProto_Label.OPTIONAL });
    field.push({ name: `o${type}`, number: no++, type, label: FieldDescriptorProto_Label.OPTIONAL, proto3Optional: true, oneofIndex: field.filter((f) => "proto3Optional" in f).length });
    field.push({ name: `r${type}`, number: no++, type, label: FieldDescriptorProto_Label.REPEATED });
    nestedType.push({ name: `M${type}Entry`, options: { mapEntry: true }, field: [
      { name: "key", number: 1, type: T.STRING, label: FieldDescriptorProto_Label.OPTIONAL },
      { name: "value", number: 2, type, label: FieldDescriptorProto_Label.OPTIONAL },
    ] });
    field.push({ name: `m${type}`, number: no++, type: T.MESSAGE, typeName: `.t.AllScalars.M${type}Entry`, label: FieldDescriptorProto_Label.REPEATED });
  }
  const oneofDecl = field.filter((f) => "proto3Optional" in f).map((f) => ({ name: `_${f.name}` }));
  const file = create(FileDescriptorProtoSchema, { name: "t.proto", package: "t", syntax: "proto3", messageType: [{ name: "AllScalars", field, nestedType, oneofDecl }] });
  return createFileRegistry(file, () => undefined).getMessage("t.AllScalars")!;
}

const SCHEMAS: DescMessage[] = [AgentSchema, ConnectionSchema, AgentToServerSchema, ServerToAgentSchema, allScalarsSchema()];

describe("prefixedBinaryEncoder", () => {
  it("writes exactly toBinary's bytes behind the prefix, for fuzzed messages of the stored and OpAMP schemas", () => {
    for (const schema of SCHEMAS) {
      const encode = prefixedBinaryEncoder(schema);
      for (let seed = 1; seed <= 400; seed++) {
        const message = fuzzed(schema, random(seed * 7919 + schema.fields.length), 4);
        const expected = toBinary(schema, message as never);
        const prefix = seed % 3 === 0 ? 0 : 8;
        const got = encode(message as never, prefix);
        expect(got.length, `${schema.typeName} seed ${seed}`).toBe(prefix + expected.length);
        expect(Buffer.compare(got.subarray(prefix), Buffer.from(expected)), `${schema.typeName} seed ${seed}`).toBe(0);
      }
    }
  });

  it("keeps unknown fields, as toBinary does", () => {
    // Field 99 is unknown to Connection: decoded into $unknown and written back last.
    const known = toBinary(ConnectionSchema, create(ConnectionSchema, { id: "gw/ws/1", remoteAddress: "127.0.0.1:1" }));
    const withUnknown = Buffer.concat([known, Buffer.from([0x9a, 0x06, 0x03, 0x61, 0x62, 0x63])]);
    const decoded = fromBinary(ConnectionSchema, withUnknown);
    expect(decoded.$unknown?.length).toBe(1);
    const got = prefixedBinaryEncoder(ConnectionSchema)(decoded, 0);
    expect(Buffer.compare(got, Buffer.from(toBinary(ConnectionSchema, decoded)))).toBe(0);
  });

  it("returns a buffer of its own each time, untouched by the encodes after it", () => {
    const encode = prefixedBinaryEncoder(ConnectionSchema);
    const first = encode(create(ConnectionSchema, { id: "first", endpoint: "ws://a/v1/opamp" }), 8);
    const copy = Buffer.from(first.subarray(8));
    // A larger message grows the shared buffer past its first size.
    encode(create(ConnectionSchema, { id: "second", endpoint: "x".repeat(100_000) }), 8);
    expect(Buffer.compare(first.subarray(8), copy)).toBe(0);
    expect(Buffer.compare(first.subarray(8), Buffer.from(toBinary(ConnectionSchema, create(ConnectionSchema, { id: "first", endpoint: "ws://a/v1/opamp" }))))).toBe(0);
  });

  it("refuses a message of another type, as toBinary does", () => {
    const encode = prefixedBinaryEncoder(ConnectionSchema);
    expect(() => encode(create(AgentSchema) as never, 0)).toThrow();
  });
});
