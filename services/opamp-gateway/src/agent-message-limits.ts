/**
 * Limits on what one AgentToServer may carry, besides its size in bytes
 * (--max-message-bytes). Each is a flag; 0 means no limit, except the depth.
 */
export interface AgentMessageLimits {
  /** Attributes (identifying and non-identifying together) in agent_description. */
  maxDescriptionAttributes: number;
  /** Bytes of one attribute (its key and value as sent) in agent_description. */
  maxAttributeBytes: number;
  /** Bytes of custom_message. */
  maxCustomMessageBytes: number;
  /** Bytes of effective_config. */
  maxEffectiveConfigBytes: number;
  /** Components (map entries, at any depth) in the health tree. */
  maxHealthComponents: number;
  /** Levels of the health tree, the root being level 1 (at least 1). */
  maxHealthDepth: number;
}

/**
 * A message over one of the AgentMessageLimits; answered BAD_REQUEST naming
 * the limit and its flag. Carries the sender's instance_uid (read before the
 * limit was hit) so that the reply names the agent.
 */
export class MessageOverLimitError extends Error {
  constructor(
    /** The flag that sets the limit, e.g. "--max-description-attributes". */
    readonly flag: string,
    readonly instanceUid: Uint8Array,
    message: string,
  ) {
    super(`${message} (limit set by ${flag})`);
    this.name = "MessageOverLimitError";
  }
}

// Field numbers of opamp.proto that the scan looks into.
const AGENT_TO_SERVER = { instanceUid: 1, agentDescription: 3, health: 5, effectiveConfig: 6, customMessage: 13 };
const COMPONENT_HEALTH_MAP = 6;
const MAP_ENTRY_VALUE = 2;
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** The input ended, or used a wire type we do not walk: left for the decoder to refuse. */
class StopScan extends Error {}

/**
 * Checks an encoded AgentToServer against the limits before it is decoded,
 * and throws MessageOverLimitError at the first one exceeded. Decoding is what
 * costs: ~120 ms of event loop per MiB of tiny attributes (4,000,000 in 38 MiB
 * took 4.3 s), during which no other agent is answered. This walk reads only
 * tags and lengths, skips every field it does not count, and stops at the
 * first limit passed, so a flood of attributes costs no more than the limit's
 * worth. Bytes that are not valid protobuf end the walk quietly; the decoder
 * then refuses them as before.
 */
export function checkAgentMessageLimits(body: Uint8Array, limits: AgentMessageLimits): void {
  try {
    scanAgentToServer(body, limits);
  } catch (err) {
    if (err instanceof StopScan) return;
    throw err;
  }
}

function scanAgentToServer(body: Uint8Array, limits: AgentMessageLimits): void {
  const r = new WireReader(body, 0, body.length);
  let instanceUid: Uint8Array = new Uint8Array();
  let attributes = 0;
  let effectiveConfigBytes = 0;
  let customMessageBytes = 0;
  const health = { components: 0 };
  const over = (flag: string, what: string) => new MessageOverLimitError(flag, instanceUid, what);
  while (!r.done) {
    const { field, wire } = r.tag();
    if (wire !== WIRE_LEN) {
      r.skip(wire);
      continue;
    }
    const [start, end] = r.lengthDelimited();
    switch (field) {
      case AGENT_TO_SERVER.instanceUid:
        instanceUid = body.subarray(start, end);
        break;
      case AGENT_TO_SERVER.agentDescription: {
        const d = new WireReader(body, start, end);
        while (!d.done) {
          const { wire: w } = d.tag();
          if (w !== WIRE_LEN) {
            d.skip(w);
            continue;
          }
          // Fields 1 and 2 are the attributes; a field we do not know is counted too, to be safe.
          const [s, e] = d.lengthDelimited();
          if (limits.maxDescriptionAttributes > 0 && ++attributes > limits.maxDescriptionAttributes) {
            throw over("--max-description-attributes", `agent_description has more than ${limits.maxDescriptionAttributes} attributes`);
          }
          if (limits.maxAttributeBytes > 0 && e - s > limits.maxAttributeBytes) {
            throw over("--max-attribute-bytes", `an agent_description attribute is ${e - s} bytes, over ${limits.maxAttributeBytes}`);
          }
        }
        break;
      }
      case AGENT_TO_SERVER.health:
        scanHealth(body, start, end, 1, health, limits, over);
        break;
      case AGENT_TO_SERVER.effectiveConfig:
        effectiveConfigBytes += end - start;
        if (limits.maxEffectiveConfigBytes > 0 && effectiveConfigBytes > limits.maxEffectiveConfigBytes) {
          throw over("--max-effective-config-bytes", `effective_config is ${effectiveConfigBytes} bytes, over ${limits.maxEffectiveConfigBytes}`);
        }
        break;
      case AGENT_TO_SERVER.customMessage:
        customMessageBytes += end - start;
        if (limits.maxCustomMessageBytes > 0 && customMessageBytes > limits.maxCustomMessageBytes) {
          throw over("--max-custom-message-bytes", `custom_message is ${customMessageBytes} bytes, over ${limits.maxCustomMessageBytes}`);
        }
        break;
    }
  }
}

/** Counts the components of a ComponentHealth between start and end (at `depth`), recursing into its map. */
function scanHealth(
  body: Uint8Array,
  start: number,
  end: number,
  depth: number,
  health: { components: number },
  limits: AgentMessageLimits,
  over: (flag: string, what: string) => MessageOverLimitError,
): void {
  if (depth > limits.maxHealthDepth) throw over("--max-health-depth", `the health tree is more than ${limits.maxHealthDepth} levels deep`);
  const r = new WireReader(body, start, end);
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field !== COMPONENT_HEALTH_MAP || wire !== WIRE_LEN) {
      r.skip(wire);
      continue;
    }
    const [entryStart, entryEnd] = r.lengthDelimited();
    if (limits.maxHealthComponents > 0 && ++health.components > limits.maxHealthComponents) {
      throw over("--max-health-components", `the health tree has more than ${limits.maxHealthComponents} components`);
    }
    const entry = new WireReader(body, entryStart, entryEnd);
    while (!entry.done) {
      const t = entry.tag();
      if (t.field !== MAP_ENTRY_VALUE || t.wire !== WIRE_LEN) {
        entry.skip(t.wire);
        continue;
      }
      const [s, e] = entry.lengthDelimited();
      scanHealth(body, s, e, depth + 1, health, limits, over);
    }
  }
}

/** Reads protobuf tags and lengths between two offsets, without decoding anything. */
class WireReader {
  constructor(
    private readonly bytes: Uint8Array,
    private pos: number,
    private readonly end: number,
  ) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  tag(): { field: number; wire: number } {
    const t = this.varint();
    return { field: Math.floor(t / 8), wire: t % 8 };
  }

  /** The [start, end) of a length-delimited field's content, which is then skipped. */
  lengthDelimited(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    if (start + length > this.end) throw new StopScan();
    this.pos = start + length;
    return [start, this.pos];
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_FIXED64) this.advance(8);
    else if (wire === WIRE_FIXED32) this.advance(4);
    else if (wire === WIRE_LEN) this.lengthDelimited();
    else throw new StopScan();
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new StopScan();
    this.pos += n;
  }

  /** A varint as a number (exact up to 2^53, plenty for tags and lengths). */
  private varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new StopScan();
      const b = this.bytes[this.pos++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new StopScan();
  }
}
