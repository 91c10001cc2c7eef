import { create } from "@bufbuild/protobuf";
import { AgentToServerSchema, type AgentToServer } from "@fleetplane/gen/opamp/proto/opamp_pb";

/** Tags (field number << 3 | wire type) of the fields a bare heartbeat carries. */
const INSTANCE_UID = (1 << 3) | 2;
const SEQUENCE_NUM = (2 << 3) | 0;
const CAPABILITIES = (4 << 3) | 0;

/** Where the reader is in the body; -1 when what it read cannot be a bare heartbeat's. */
let at = 0;

/**
 * A bare heartbeat (isHeartbeat: instance UID, sequence number,
 * capabilities) decoded by hand — most messages of a connected fleet are
 * these, and protobuf-es's reader costs more than the three fields — or
 * undefined for anything else, which the caller decodes with fromBinary.
 * Whatever it returns equals fromBinary's message (the spec checks it on
 * every shape and on random bytes); anything it is not sure of (another
 * field, a varint over 63 bits, a field truncated) is left to fromBinary.
 * `start`: where the body begins in `body` (after a frame's header), so
 * that the caller needs no view of it.
 */
export function decodeHeartbeat(body: Uint8Array, start = 0): AgentToServer | undefined {
  let instanceUid: Uint8Array | undefined;
  let sequenceNum = 0n;
  let capabilities = 0n;
  at = start;
  while (at < body.length) {
    const tag = body[at++]!;
    if (tag === INSTANCE_UID) {
      const length = body[at++];
      if (length === undefined || length >= 0x80 || at + length > body.length) return undefined;
      // A copy, not a view: the message keeps no part of the frame it came
      // in, and the frame (a small Buffer on V8's heap, see the gateway's
      // whole-binary-frames.ts) is never made a view of, which would copy it
      // off the heap (docs/performance.md §29).
      instanceUid = new Uint8Array(length);
      for (let i = 0; i < length; i++) instanceUid[i] = body[at + i]!;
      at += length;
    } else if (tag === SEQUENCE_NUM || tag === CAPABILITIES) {
      const value = readVarint(body);
      if (at < 0) return undefined;
      if (tag === SEQUENCE_NUM) sequenceNum = value;
      else capabilities = value;
    } else {
      return undefined;
    }
  }
  // What create(AgentToServerSchema) makes, written out: its compiled
  // create walks the schema's fields on every call; a literal of one shape
  // costs a copy of a boilerplate (docs/performance.md §25). The spec checks
  // it equals create()'s message, fields and prototype, so a field the proto
  // adds with a zero value of its own (flags is one) shows there.
  return { $typeName: TYPE_NAME, instanceUid: instanceUid ?? EMPTY_UID, sequenceNum, capabilities, flags: 0n };
}

const ZERO = create(AgentToServerSchema);
const TYPE_NAME = ZERO.$typeName;
/** create()'s own zero-length UID (one shared constant, as create gives it). */
const EMPTY_UID = ZERO.instanceUid;

/** An unsigned varint of at most 9 bytes (63 bits); sets `at` to -1 for a longer or truncated one. */
function readVarint(body: Uint8Array): bigint {
  let low = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    const b = body[at++];
    if (b === undefined) return ((at = -1), 0n);
    low |= (b & 0x7f) << shift;
    if (b < 0x80) return BigInt(low >>> 0);
  }
  let value = BigInt(low >>> 0);
  for (let shift = 28n; shift < 63n; shift += 7n) {
    const b = body[at++];
    if (b === undefined) return ((at = -1), 0n);
    value |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return value;
  }
  at = -1;
  return 0n;
}
