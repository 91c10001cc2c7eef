import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { KeyValue } from "@fleetplane/gen/opamp/proto/anyvalue_pb";
import type { AgentDescription, EffectiveConfig } from "@fleetplane/gen/opamp/proto/opamp_pb";

/**
 * Distinct values each pool remembers before it starts over. Bounds what a
 * pool itself keeps alive (~250 bytes an attribute: ~4 MiB), whatever the
 * fleet reports: values nobody else shares (service.instance.id) fill it,
 * and a fresh pool costs one more copy of each repeated value (a few
 * hundred in a real fleet), not one per agent.
 */
export const SHARED_VALUES_KEPT = 16_384;

/** Effective configurations larger than this (all files) are not shared: looking one up costs a copy of its text. */
export const SHARED_CONFIG_MAX_BYTES = 64 * 1024;

/** Configuration text a pool keeps at most (the keys, ~ the bodies' bytes) before it starts over. */
const SHARED_CONFIG_POOL_BYTES = 8 * 1024 * 1024;

/**
 * What the agents a process keeps in memory report alike, kept once and
 * shared by every agent that reported it (docs/performance.md §39): each
 * string-valued attribute of their descriptions, their effective
 * configuration, and the strings naming their gateway, namespace and
 * credential.
 *
 * Why: a cached Agent was ~4.4 KiB of live objects, of it ~2.4 KiB its
 * decoded description (each attribute three objects and two strings of its
 * own) and ~0.5 KiB its effective configuration; most of both repeat across
 * a fleet (service name and version, OS, architecture, environment; the
 * configuration a group gave). Sharing keeps the decoded shape, so every
 * reader (group selectors, queries by attribute, the admin API, the stores'
 * encoders) reads it as before, and nothing is decoded on a report. Shared
 * messages are frozen, because a change through one agent would change every
 * agent's: a write to one throws (ES modules are strict). Nothing writes
 * into them: a report replaces a description or an effective configuration
 * whole, and the copies readers get (clone) are never frozen.
 */
export class SharedValues {
  /** key → string value → the shared attribute. */
  private readonly attributes: BoundedPool<Map<string, KeyValue>>;
  private readonly configs: BoundedPool<EffectiveConfig>;
  private readonly strings: BoundedPool<string>;

  constructor(kept = SHARED_VALUES_KEPT) {
    this.attributes = new BoundedPool(kept);
    this.configs = new BoundedPool(kept, SHARED_CONFIG_POOL_BYTES);
    this.strings = new BoundedPool(kept);
  }

  /**
   * Replaces, in place, what `agent` holds alike with others by the shared
   * copy (or makes it the shared copy). The agent's own objects (its
   * metadata, status, description) stay its own.
   */
  share(agent: Agent): void {
    const meta = agent.metadata;
    if (meta) {
      if (meta.description) this.shareDescription(meta.description);
      meta.namespace = this.string(meta.namespace);
      meta.credential = this.string(meta.credential);
    }
    const status = agent.status;
    if (status) {
      if (status.effectiveConfig && !Object.isFrozen(status.effectiveConfig)) status.effectiveConfig = this.sharedConfig(status.effectiveConfig);
      status.gatewayId = this.string(status.gatewayId);
      status.gatewayEpoch = this.string(status.gatewayEpoch);
      status.opampEndpoint = this.string(status.opampEndpoint);
    }
  }

  /** Distinct values the pools hold now (for tests). */
  get size(): { attributes: number; configs: number; strings: number } {
    return { attributes: this.attributes.entries, configs: this.configs.entries, strings: this.strings.entries };
  }

  /**
   * Each string-valued attribute replaced by the shared copy; attributes of
   * other kinds (bytes, arrays, maps, numbers) and any carrying unknown
   * fields are left as they are. The arrays are copied to their length: a
   * decoded repeated field grows as it is filled and keeps ~17 slots.
   */
  private shareDescription(d: AgentDescription): void {
    d.identifyingAttributes = this.shareAttributes(d.identifyingAttributes);
    d.nonIdentifyingAttributes = this.shareAttributes(d.nonIdentifyingAttributes);
  }

  private shareAttributes(list: KeyValue[]): KeyValue[] {
    if (list.length === 0 || (Object.isFrozen(list[0]) && Object.isFrozen(list[list.length - 1]))) return list;
    const out = new Array<KeyValue>(list.length);
    for (let i = 0; i < list.length; i++) out[i] = this.sharedAttribute(list[i]!);
    return out;
  }

  private sharedAttribute(kv: KeyValue): KeyValue {
    const value = kv.value;
    if (Object.isFrozen(kv) || value?.value.case !== "stringValue" || kv.$unknown !== undefined || value.$unknown !== undefined) return kv;
    const text = value.value.value;
    let byValue = this.attributes.get(kv.key);
    const known = byValue?.get(text);
    if (known) return known;
    if (!byValue || this.attributes.full()) byValue = this.attributes.add(kv.key, new Map(), 0);
    else this.attributes.count(1);
    Object.freeze(value.value);
    Object.freeze(value);
    byValue.set(text, Object.freeze(kv));
    return kv;
  }

  /**
   * The shared copy of an equal effective configuration (same files: names,
   * content types, bodies). The shared one's bodies own their buffers whole,
   * so ownBytes leaves them be; one of unknown fields or past
   * SHARED_CONFIG_MAX_BYTES stays the agent's own.
   */
  private sharedConfig(config: EffectiveConfig): EffectiveConfig {
    const map = config.configMap;
    if (config.$unknown !== undefined || !map || map.$unknown !== undefined) return config;
    const names = Object.keys(map.configMap).sort();
    let bytes = 0;
    for (const name of names) {
      const file = map.configMap[name]!;
      if (file.$unknown !== undefined) return config;
      bytes += file.body.byteLength;
    }
    if (bytes > SHARED_CONFIG_MAX_BYTES) return config;
    let key = "";
    for (const name of names) {
      const file = map.configMap[name]!;
      key += `${name}\0${file.contentType}\0${Buffer.from(file.body.buffer, file.body.byteOffset, file.body.byteLength).toString("latin1")}\0`;
    }
    const known = this.configs.get(key);
    if (known) return known;
    for (const name of names) {
      const file = map.configMap[name]!;
      // A copy that owns its whole buffer. Not .slice(): on a Buffer (a
      // report decoded from a WebSocket frame in-process) that is a view.
      file.body = new Uint8Array(file.body);
      Object.freeze(file);
    }
    Object.freeze(map.configMap);
    Object.freeze(map);
    return this.configs.add(key, Object.freeze(config), key.length);
  }

  private string(s: string): string {
    if (s === "") return s;
    return this.strings.get(s) ?? this.strings.add(s, s, 0);
  }
}

/**
 * A map that starts over once it holds `kept` entries (or `maxWeight` of
 * what add was told they weigh): what a pool keeps alive stays bounded.
 */
class BoundedPool<T> {
  private map = new Map<string, T>();
  entries = 0;
  private weight = 0;

  constructor(
    private readonly kept: number,
    private readonly maxWeight = Number.POSITIVE_INFINITY,
  ) {}

  get(key: string): T | undefined {
    return this.map.get(key);
  }

  full(): boolean {
    return this.entries >= this.kept || this.weight >= this.maxWeight;
  }

  /** Counts `n` entries kept inside a value already added (the attributes' inner maps). */
  count(n: number): void {
    this.entries += n;
  }

  add(key: string, value: T, weight: number): T {
    if (this.full()) {
      this.map = new Map();
      this.entries = 0;
      this.weight = 0;
    }
    this.map.set(key, value);
    this.entries++;
    this.weight += weight;
    return value;
  }
}
