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
  /** Packages in package_statuses. */
  maxPackageStatuses: number;
  /** Bytes of one field of package_statuses: a package's name, versions, hashes and error message, and the statuses' own hash and error message. */
  maxPackageStatusBytes: number;
  /** Components (map entries, at any depth) in available_components. */
  maxAvailableComponents: number;
  /** Levels of available_components, its own components being level 1 (at least 1). */
  maxAvailableComponentsDepth: number;
  /** Bytes of available_components. */
  maxAvailableComponentsBytes: number;
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
const AGENT_TO_SERVER = { instanceUid: 1, agentDescription: 3, health: 5, effectiveConfig: 6, packageStatuses: 8, customMessage: 13, availableComponents: 14 };
const COMPONENT_HEALTH_MAP = 6;
const PACKAGE_STATUSES_MAP = 1;
const AVAILABLE_COMPONENTS_MAP = 1;
const COMPONENT_DETAILS_MAP = 2;
const MAP_ENTRY_KEY = 1;
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

/**
 * The same check on the first bytes of a message still arriving (a gzip
 * body being inflated): what those bytes show is judged — a count already
 * past its limit, a field whose declared length is over its limit — and
 * what they cannot show yet is left for checkAgentMessageLimits on the whole
 * message. A 50 MiB description of tiny attributes is refused after its
 * first MiB instead of after inflating all of it.
 */
export function checkAgentMessagePrefix(prefix: Uint8Array, limits: AgentMessageLimits): void {
  prefixes.add(prefix);
  checkAgentMessageLimits(prefix, limits);
}

/** Buffers that hold only the start of a message: their readers walk into fields cut short (see WireReader). */
const prefixes = new WeakSet<Uint8Array>();

function scanAgentToServer(body: Uint8Array, limits: AgentMessageLimits): void {
  const r = new WireReader(body, 0, body.length);
  let instanceUid: Uint8Array = new Uint8Array();
  let attributes = 0;
  let effectiveConfigBytes = 0;
  let customMessageBytes = 0;
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
        scanTree(body, start, end, 1, COMPONENT_HEALTH_MAP, healthTree(limits), { components: 0 }, over);
        break;
      case AGENT_TO_SERVER.packageStatuses:
        scanPackageStatuses(body, start, end, limits, over);
        break;
      case AGENT_TO_SERVER.availableComponents:
        if (limits.maxAvailableComponentsBytes > 0 && end - start > limits.maxAvailableComponentsBytes) {
          throw over("--max-available-components-bytes", `available_components is ${end - start} bytes, over ${limits.maxAvailableComponentsBytes}`);
        }
        // The message's own map holds level 1; each ComponentDetails holds the next.
        scanTree(body, start, end, 0, AVAILABLE_COMPONENTS_MAP, availableComponentsTree(limits), { components: 0 }, over);
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

type Over = (flag: string, what: string) => MessageOverLimitError;

/** A tree of components as the scan walks it: where its maps are, and its limits. */
interface TreeShape {
  what: string;
  /** The map field of each component (the root's may differ: scanTree's mapField). */
  childMap: number;
  maxComponents: number;
  maxDepth: number;
  componentsFlag: string;
  depthFlag: string;
}

const healthTree = (l: AgentMessageLimits): TreeShape => ({
  what: "the health tree",
  childMap: COMPONENT_HEALTH_MAP,
  maxComponents: l.maxHealthComponents,
  maxDepth: l.maxHealthDepth,
  componentsFlag: "--max-health-components",
  depthFlag: "--max-health-depth",
});

const availableComponentsTree = (l: AgentMessageLimits): TreeShape => ({
  what: "available_components",
  childMap: COMPONENT_DETAILS_MAP,
  maxComponents: l.maxAvailableComponents,
  maxDepth: l.maxAvailableComponentsDepth,
  componentsFlag: "--max-available-components",
  depthFlag: "--max-available-components-depth",
});

/** Counts the components of the tree node between start and end (at `depth`), whose children are in field `mapField`, recursing into them. */
function scanTree(body: Uint8Array, start: number, end: number, depth: number, mapField: number, shape: TreeShape, seen: { components: number }, over: Over): void {
  if (depth > shape.maxDepth) throw over(shape.depthFlag, `${shape.what} is more than ${shape.maxDepth} levels deep`);
  eachLengthDelimited(body, start, end, (field, entryStart, entryEnd) => {
    if (field !== mapField) return;
    if (shape.maxComponents > 0 && ++seen.components > shape.maxComponents) {
      throw over(shape.componentsFlag, `${shape.what} has more than ${shape.maxComponents} components`);
    }
    eachLengthDelimited(body, entryStart, entryEnd, (f, s, e) => {
      if (f === MAP_ENTRY_VALUE) scanTree(body, s, e, depth + 1, shape.childMap, shape, seen, over);
    });
  });
}

/** Counts the packages of a PackageStatuses and checks the size of each of their fields (and its own). */
function scanPackageStatuses(body: Uint8Array, start: number, end: number, limits: AgentMessageLimits, over: Over): void {
  const maxBytes = limits.maxPackageStatusBytes;
  const checkSize = (s: number, e: number, which: string) => {
    if (maxBytes > 0 && e - s > maxBytes) throw over("--max-package-status-bytes", `package_statuses: ${which} is ${e - s} bytes, over ${maxBytes}`);
  };
  let packages = 0;
  eachLengthDelimited(body, start, end, (field, s, e) => {
    if (field !== PACKAGE_STATUSES_MAP) return checkSize(s, e, "a field");
    if (limits.maxPackageStatuses > 0 && ++packages > limits.maxPackageStatuses) {
      throw over("--max-package-statuses", `package_statuses has more than ${limits.maxPackageStatuses} packages`);
    }
    // A map entry: the package name (key), then its PackageStatus (value), each of whose fields is checked.
    eachLengthDelimited(body, s, e, (entryField, es, ee) => {
      if (entryField === MAP_ENTRY_KEY) checkSize(es, ee, "a package name");
      else eachLengthDelimited(body, es, ee, (_f, fs, fe) => checkSize(fs, fe, "a package's field"));
    });
  });
}

/** Calls `visit` with the number and content bounds of each length-delimited field between start and end, skipping the other fields. */
function eachLengthDelimited(body: Uint8Array, start: number, end: number, visit: (field: number, start: number, end: number) => void): void {
  const r = new WireReader(body, start, end);
  while (!r.done) {
    const { field, wire } = r.tag();
    if (wire !== WIRE_LEN) {
      r.skip(wire);
      continue;
    }
    const [s, e] = r.lengthDelimited();
    visit(field, s, e);
  }
}

/** Reads protobuf tags and lengths between two offsets, without decoding anything. */
class WireReader {
  /**
   * Over a prefix, a length-delimited field may run past the bytes we have:
   * its declared [start, end) is returned all the same (sizes are judged by
   * what the field declares) and readers of its content stop where the bytes do.
   */
  private readonly partial: boolean;
  private readonly end: number;

  constructor(
    private readonly bytes: Uint8Array,
    private pos: number,
    end: number,
  ) {
    this.partial = prefixes.has(bytes);
    this.end = Math.min(end, bytes.length);
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  tag(): { field: number; wire: number } {
    const t = this.varint();
    // Field number 0 is not protobuf (the decoder refuses it at once). Walking on would read a
    // zero-filled body — a gzip bomb's — as millions of empty fields: ~1.5 s of event loop for 64 MiB
    // here, during which no other agent was answered (the chaos fuzz's probe saw its replies late).
    if (t < 8) throw new StopScan();
    return { field: Math.floor(t / 8), wire: t % 8 };
  }

  /** The [start, end) of a length-delimited field's content, which is then skipped. */
  lengthDelimited(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    if (start + length > this.end) {
      if (!this.partial) throw new StopScan();
      this.pos = this.end;
      return [start, start + length];
    }
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
