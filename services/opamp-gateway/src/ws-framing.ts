import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { decodeHeartbeat } from "@fleetplane/opamp";
import { prefixedBinaryEncoder } from "@fleetplane/platform-node";
import { checkAgentMessageLimits, type AgentMessageLimits } from "./agent-message-limits.js";
import { AgentToServerSchema, ServerToAgentSchema, type AgentToServer, type ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";

/** An agent's message that is not an OpAMP frame: a bad header, or a body that does not decode. */
export class MalformedFrameError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MalformedFrameError";
  }
}

/** The header this server writes: the varint 0, the only one the spec defines. */
const HEADER = new Uint8Array([0]);

/**
 * OpAMP WebSocket messages are a varint header (0 in this version of the spec)
 * followed by the protobuf. Early clients sent no header; like opamp-go we
 * still accept that, which is unambiguous: a header starts with 0x00 (or, for
 * a needlessly long varint, a byte with the continuation bit), while an
 * AgentToServer starts with a field tag for a field below 16, i.e. 0x08–0x7f.
 * Throws MalformedFrameError for a header other than 0 (or one longer than a
 * varint can be) and for a body that does not decode; with `limits`, throws
 * MessageOverLimitError for a body over one of them, before decoding it.
 */
export function decodeAgentFrame(frame: Uint8Array, limits?: AgentMessageLimits): AgentToServer {
  let offset = 0;
  if (frame[0] === 0) {
    offset = 1; // the header every current client sends
  } else if (frame.length > 0 && frame[0]! >= 0x80) {
    let header = 0n;
    let shift = 0n;
    for (;;) {
      if (offset >= frame.length || offset >= 10) throw new MalformedFrameError("truncated WebSocket message header");
      const b = frame[offset++]!;
      header |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) break;
    }
    if (header !== 0n) throw new MalformedFrameError(`unsupported WebSocket message header ${header} (this server speaks header 0)`);
  }
  // A bare heartbeat (most messages) carries nothing a limit is about; read
  // in place, without a view of the body (docs/performance.md §29).
  const heartbeat = decodeHeartbeat(frame, offset);
  if (heartbeat) return heartbeat;
  const body = frame.subarray(offset);
  if (limits) checkAgentMessageLimits(body, limits);
  try {
    return fromBinary(AgentToServerSchema, body);
  } catch (err) {
    throw new MalformedFrameError(`AgentToServer does not decode: ${(err as Error).message}`, { cause: err });
  }
}

/** A ServerToAgent as a WebSocket message: header 0, then the protobuf. */
export function encodeServerFrame(message: ServerToAgent): Buffer {
  const body = toBinary(ServerToAgentSchema, message);
  const frame = Buffer.allocUnsafe(body.length + 1);
  frame.set(HEADER, 0);
  frame.set(body, 1);
  return frame;
}

/** FIN + opcode 2 (binary): a whole binary message in one frame (RFC 6455 §5.2). */
const FIN_BINARY = 0x82;

/** The longest frame header a server writes (FIN/opcode, 127, a 64-bit length), then the OpAMP header. */
const ROOM = 2 + 8 + HEADER.length;

/**
 * The reply encoded behind ROOM bytes, in one buffer: the frame header is
 * written into the room's tail once the body's length is known
 * (prefixedBinaryEncoder: one allocation per reply, where toBinary's
 * growing writer and the copy behind the header made three or more).
 */
const encodeBehindRoom = prefixedBinaryEncoder(ServerToAgentSchema);

/**
 * A ServerToAgent as the bytes that go on the socket: the RFC 6455 frame
 * header (FIN, binary, unmasked as a server's frames are, the payload
 * length in 7, 7+16 or 7+64 bits), then the OpAMP message of
 * encodeServerFrame — in one buffer, so a reply is one write to the socket
 * (websocket-connection.ts). `payloadLength` is the OpAMP message's size,
 * the one the size limit applies to.
 */
export function encodeServerWebSocketFrame(message: ServerToAgent): { bytes: Buffer; payloadLength: number } {
  const encoded = encodeBehindRoom(message, ROOM);
  const payloadLength = encoded.length - ROOM + HEADER.length;
  const lengthBytes = payloadLength < 126 ? 0 : payloadLength < 0x10000 ? 2 : 8;
  const start = ROOM - HEADER.length - 2 - lengthBytes;
  encoded[start] = FIN_BINARY;
  if (lengthBytes === 0) encoded[start + 1] = payloadLength;
  else if (lengthBytes === 2) {
    encoded[start + 1] = 126;
    encoded.writeUInt16BE(payloadLength, start + 2);
  } else {
    encoded[start + 1] = 127;
    encoded.writeBigUInt64BE(BigInt(payloadLength), start + 2);
  }
  encoded.set(HEADER, ROOM - HEADER.length);
  return { bytes: encoded.subarray(start), payloadLength };
}
