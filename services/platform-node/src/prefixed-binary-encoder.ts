import { ScalarType, protoInt64, type DescField, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

/**
 * Encodes a message the way protobuf-es's toBinary does, byte for byte (the
 * spec compares both on fuzzed messages), into one buffer reused from call to
 * call, and returns the bytes behind a caller's prefix in one new Buffer.
 *
 * Why: toBinary starts each message in an empty writer that grows 128 → 256
 * → 512 → 1,024 bytes for a stored Agent and copies the result out, and the
 * store then copies it again behind the 8-byte revision: six buffers per
 * save, the store's largest share of a connect storm (docs/performance.md
 * §15, §19). Here: one.
 *
 * Covers plain proto3 messages: scalars, enums, messages, lists, maps,
 * oneofs and unknown fields. A schema with anything else reachable (proto2
 * groups or required fields, well-known types protobuf-es represents as
 * something other than a message: wrappers, Struct, Value, ListValue, Any
 * stays a message) is refused when compiled, so nothing falls through
 * silently.
 */
export function prefixedBinaryEncoder<Desc extends DescMessage>(schema: Desc): (message: MessageShape<Desc>, prefix: number) => Buffer {
  const write = compiled(schema);
  return (message, prefix) => {
    w.pos = prefix;
    write(message as unknown as Msg);
    const out = Buffer.allocUnsafe(w.pos);
    w.buf.copy(out, prefix, prefix, w.pos);
    return out;
  };
}

type Msg = Record<string, unknown> & { $unknown?: Array<{ no: number; wireType: number; data: Uint8Array }> };
type Writer = (message: Msg) => void;

/** Well-known types protobuf-es does not hold as plain messages (wrappers unboxed, Struct/Value as JSON). */
const UNBOXED = new Set([
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
]);

/** The one writer: a buffer that only grows, and the write position. The process is single-threaded and encoding is synchronous. */
const w = { buf: Buffer.allocUnsafe(4096), pos: 0 };

function ensure(n: number): void {
  if (w.pos + n <= w.buf.length) return;
  let size = w.buf.length * 2;
  while (size < w.pos + n) size *= 2;
  const grown = Buffer.allocUnsafe(size);
  w.buf.copy(grown, 0, 0, w.pos);
  w.buf = grown;
}

function varint32(v: number): void {
  // Negative int32/enum values are sign-extended to ten bytes, as protobuf-es does.
  if (v < 0) return varint64(v, -1);
  ensure(5);
  const b = w.buf;
  while (v > 0x7f) {
    b[w.pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  b[w.pos++] = v;
}

/** A 64-bit varint from its two's-complement halves. */
function varint64(lo: number, hi: number): void {
  ensure(10);
  const b = w.buf;
  lo >>>= 0;
  hi >>>= 0;
  while (hi !== 0 || lo > 0x7f) {
    b[w.pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  b[w.pos++] = lo;
}

function tag(no: number, wireType: number): void {
  varint32(((no << 3) | wireType) >>> 0);
}

/** Reserves one byte for a length; close() writes it, moving the body when the length needs more. */
function open(): number {
  ensure(1);
  return w.pos++;
}
function close(at: number): void {
  const len = w.pos - at - 1;
  if (len < 0x80) {
    w.buf[at] = len;
    return;
  }
  let extra = 0;
  for (let l = len >>> 7; l > 0x7f; l >>>= 7) extra++;
  extra++; // bytes beyond the reserved one
  ensure(extra);
  w.buf.copy(w.buf, at + 1 + extra, at + 1, w.pos);
  w.pos += extra;
  const end = w.pos;
  w.pos = at;
  varint32(len);
  w.pos = end;
}

const enc64 = (v: unknown) => protoInt64.enc(v as bigint | string);
const uEnc64 = (v: unknown) => protoInt64.uEnc(v as bigint | string);

/** A fixed-width scalar of `bytes` bytes: `put` writes it at `at` and returns the position after it (as Buffer's write methods do). */
function fixed(wire: number, bytes: number, put: (v: unknown, at: number) => number): { wire: number; write: (v: unknown) => void } {
  return {
    wire,
    write: (v) => {
      ensure(bytes);
      w.pos = put(v, w.pos);
    },
  };
}

/** Writes a scalar value (no tag); returns the wire type. */
function scalarWriter(type: ScalarType): { wire: number; write: (v: unknown) => void } {
  switch (type) {
    case ScalarType.STRING:
      return {
        wire: 2,
        write: (v) => {
          const s = v as string;
          const n = s.length;
          // At most three bytes per UTF-16 unit: the length is known after writing.
          ensure(5 + n * 3);
          const at = open();
          // Short ASCII (keys, names, versions: most of an Agent) is copied
          // here; anything else, or anything long, by Buffer's UTF-8 encoder
          // (which replaces a lone surrogate as TextEncoder does).
          let i = 0;
          if (n < 64) {
            const b = w.buf;
            let p = w.pos;
            for (; i < n; i++) {
              const c = s.charCodeAt(i);
              if (c >= 0x80) break;
              b[p++] = c;
            }
            if (i === n) w.pos = p;
          }
          if (i !== n) w.pos += w.buf.write(s, w.pos, "utf8");
          close(at);
        },
      };
    case ScalarType.BYTES:
      return {
        wire: 2,
        write: (v) => {
          const bytes = v as Uint8Array;
          varint32(bytes.byteLength);
          ensure(bytes.byteLength);
          w.buf.set(bytes, w.pos);
          w.pos += bytes.byteLength;
        },
      };
    case ScalarType.BOOL:
      return { wire: 0, write: (v) => varint32(v ? 1 : 0) };
    case ScalarType.DOUBLE:
      return fixed(1, 8, (v, at) => w.buf.writeDoubleLE(v as number, at));
    case ScalarType.FLOAT:
      return fixed(5, 4, (v, at) => w.buf.writeFloatLE(v as number, at));
    case ScalarType.INT32:
      return { wire: 0, write: (v) => varint32(v as number) };
    case ScalarType.UINT32:
      return { wire: 0, write: (v) => varint32((v as number) >>> 0) };
    case ScalarType.SINT32:
      return { wire: 0, write: (v) => varint32((((v as number) << 1) ^ ((v as number) >> 31)) >>> 0) };
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      // Either way the same four bytes: the 32 bits of the value.
      return fixed(5, 4, (v, at) => w.buf.writeInt32LE((v as number) | 0, at));
    case ScalarType.INT64:
    case ScalarType.UINT64: {
      const halves = type === ScalarType.UINT64 ? uEnc64 : enc64;
      return {
        wire: 0,
        write: (v) => {
          const t = halves(v);
          varint64(t.lo, t.hi);
        },
      };
    }
    case ScalarType.SINT64:
      return {
        wire: 0,
        write: (v) => {
          const t = enc64(v);
          // zigzag: (n << 1) ^ (n >> 63)
          const sign = t.hi >> 31;
          varint64((t.lo << 1) ^ sign, ((t.hi << 1) | (t.lo >>> 31)) ^ sign);
        },
      };
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return fixed(1, 8, (v, at) => {
        const t = type === ScalarType.FIXED64 ? uEnc64(v) : enc64(v);
        w.buf.writeInt32LE(t.lo | 0, at);
        return w.buf.writeInt32LE(t.hi | 0, at + 4);
      });
  }
}

/** Whether a value of an implicit-presence field is its zero value (then not written), as protobuf-es decides it. */
function isZero(type: ScalarType): (v: unknown) => boolean {
  switch (type) {
    case ScalarType.STRING:
      return (v) => v === "";
    case ScalarType.BOOL:
      return (v) => v === false;
    case ScalarType.BYTES:
      return (v) => v instanceof Uint8Array && v.byteLength === 0;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return (v) => Object.is(v, 0);
    default:
      // Loose, as protobuf-es: 0, 0n and "0".
      return (v) => v == 0;
  }
}

const compiledWriters = new Map<DescMessage, Writer>();

function compiled(desc: DescMessage): Writer {
  const known = compiledWriters.get(desc);
  if (known) return known;
  const typeName = desc.typeName;
  const fields: Array<(message: Msg) => void> = [];
  const write: Writer = (message) => {
    if (message.$typeName !== typeName) throw new Error(`cannot encode ${String(message.$typeName)} as ${typeName}`);
    for (let i = 0; i < fields.length; i++) fields[i]!(message);
    const unknown = message.$unknown;
    if (unknown !== undefined) {
      for (const u of unknown) {
        tag(u.no, u.wireType);
        ensure(u.data.byteLength);
        w.buf.set(u.data, w.pos);
        w.pos += u.data.byteLength;
      }
    }
  };
  // Registered first: a recursive type (AnyValue in its own lists) finds itself.
  compiledWriters.set(desc, write);
  for (const field of desc.fields.concat().sort((a, b) => a.number - b.number)) fields.push(fieldWriter(field));
  return write;
}

function childWriter(field: DescField & { message: DescMessage }): (no: number, child: unknown) => void {
  if (UNBOXED.has(field.message.typeName)) throw new Error(`prefixedBinaryEncoder: ${field.parent.typeName}.${field.name} is a ${field.message.typeName}, which protobuf-es does not hold as a message`);
  if (field.delimitedEncoding) throw new Error(`prefixedBinaryEncoder: ${field.parent.typeName}.${field.name} is a group`);
  const write = compiled(field.message);
  return (no, child) => {
    tag(no, 2);
    const at = open();
    write(child as Msg);
    close(at);
  };
}

function fieldWriter(field: DescField): (message: Msg) => void {
  const name = field.localName;
  const no = field.number;
  switch (field.fieldKind) {
    case "message": {
      const writeChild = childWriter(field);
      if (field.oneof) {
        const oneofName = field.oneof.localName;
        return (m) => {
          const o = m[oneofName] as { case?: string; value?: unknown };
          if (o.case === name) writeChild(no, o.value);
        };
      }
      return (m) => {
        const v = m[name];
        if (v !== undefined) writeChild(no, v);
      };
    }
    case "scalar":
    case "enum": {
      const type = field.fieldKind === "enum" ? ScalarType.INT32 : field.scalar;
      const s = scalarWriter(type);
      if (field.oneof) {
        const oneofName = field.oneof.localName;
        return (m) => {
          const o = m[oneofName] as { case?: string; value?: unknown };
          if (o.case === name) {
            tag(no, s.wire);
            s.write(o.value);
          }
        };
      }
      if (field.presence !== 2 /* IMPLICIT */) {
        if (field.presence === 3 /* LEGACY_REQUIRED */) throw new Error(`prefixedBinaryEncoder: ${field.parent.typeName}.${field.name} is required (proto2)`);
        return (m) => {
          const v = m[name];
          if (v !== undefined && Object.prototype.hasOwnProperty.call(m, name)) {
            tag(no, s.wire);
            s.write(v);
          }
        };
      }
      const zero = field.fieldKind === "enum" ? ((z: number) => (v: unknown) => v === z)(field.enum.values[0]!.number) : isZero(type);
      return (m) => {
        const v = m[name];
        if (!zero(v)) {
          tag(no, s.wire);
          s.write(v);
        }
      };
    }
    case "list": {
      if (field.listKind === "message") {
        const writeChild = childWriter(field);
        return (m) => {
          const items = m[name] as unknown[];
          for (let i = 0; i < items.length; i++) writeChild(no, items[i]);
        };
      }
      const s = scalarWriter(field.listKind === "enum" ? ScalarType.INT32 : field.scalar);
      if (field.packed) {
        return (m) => {
          const items = m[name] as unknown[];
          if (items.length === 0) return;
          tag(no, 2);
          const at = open();
          for (let i = 0; i < items.length; i++) s.write(items[i]);
          close(at);
        };
      }
      return (m) => {
        const items = m[name] as unknown[];
        for (let i = 0; i < items.length; i++) {
          tag(no, s.wire);
          s.write(items[i]);
        }
      };
    }
    case "map": {
      if (field.mapKey !== ScalarType.STRING) throw new Error(`prefixedBinaryEncoder: ${field.parent.typeName}.${field.name} has non-string map keys`);
      const key = scalarWriter(ScalarType.STRING);
      // Each entry a message of its own: the key as field 1, the value as field 2.
      let writeValue: (v: unknown) => void;
      if (field.mapKind === "message") {
        const writeChild = childWriter(field);
        writeValue = (v) => writeChild(2, v);
      } else {
        const s = scalarWriter(field.mapKind === "enum" ? ScalarType.INT32 : field.scalar);
        writeValue = (v) => {
          tag(2, s.wire);
          s.write(v);
        };
      }
      return (m) => {
        const record = m[name] as Record<string, unknown>;
        for (const k of Object.keys(record)) {
          tag(no, 2);
          const at = open();
          tag(1, 2);
          key.write(k);
          writeValue(record[k]);
          close(at);
        }
      };
    }
  }
}
