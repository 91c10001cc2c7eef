import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { AnyValue, KeyValue } from "@fleetplane/gen/opamp/proto/anyvalue_pb";
import { AgentCapabilities } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { ConfigSource, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { LabelSelector } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import type { RolloutStageSpec } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";

/** Hex form of an instance UID, as the API takes it. */
export function uidHex(bytes: Uint8Array | undefined): string {
  return bytes ? Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("") : "";
}

/** UTC date and time to the second; "—" when unset. */
export function formatTime(ts: Timestamp | undefined): string {
  if (!ts || (ts.seconds === 0n && ts.nanos === 0)) return "—";
  return timestampDate(ts).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

/**
 * A generated enum value's name without the type prefix OpAMP's enums carry
 * ("RemoteConfigStatuses_APPLIED" → "APPLIED"); our own enums have none
 * ("REMOTE_CONFIG_UPDATED" stays whole).
 */
export function enumLabel(enumObject: Record<string | number, string | number>, value: number): string {
  const name = enumObject[value];
  if (typeof name !== "string") return String(value);
  return name.replace(/^[A-Z][a-z][A-Za-z]*_/, "");
}

/** Names of the AgentCapabilities bits set in `bits`, in bit order. */
export function capabilityNames(bits: bigint): string[] {
  const names: string[] = [];
  for (const [name, value] of Object.entries(AgentCapabilities)) {
    if (typeof value !== "number" || value === 0) continue;
    if ((bits & BigInt(value)) !== 0n) names.push(name.replace(/^AgentCapabilities_/, ""));
  }
  return names;
}

export function hasCapability(bits: bigint, capability: AgentCapabilities): boolean {
  return (bits & BigInt(capability)) !== 0n;
}

/** An OpAMP AnyValue as one line of text. */
export function anyValueText(v: AnyValue | undefined): string {
  const value = v?.value;
  if (!value || value.case === undefined) return "";
  switch (value.case) {
    case "bytesValue":
      return `${value.value.length} bytes`;
    case "arrayValue":
      return `[${value.value.values.map(anyValueText).join(", ")}]`;
    case "kvlistValue":
      return `{${value.value.values.map((kv) => `${kv.key}: ${anyValueText(kv.value)}`).join(", ")}}`;
    default:
      return String(value.value);
  }
}

export function attributeRows(kvs: KeyValue[] | undefined): [string, string][] {
  return (kvs ?? []).map((kv) => [kv.key, anyValueText(kv.value)]);
}

/** A config file's body as text (configs are text in practice). */
export function fileText(body: Uint8Array | undefined): string {
  return body ? new TextDecoder().decode(body) : "";
}

export function shortHash(hash: Uint8Array | string | undefined): string {
  const hex = typeof hash === "string" ? hash : uidHex(hash);
  return hex ? hex.slice(0, 12) : "—";
}

/**
 * Why an agent runs what it runs, as the API's assignment says: its own
 * config ("per-agent"), its group's ("group X"), or none. Agents stored
 * before assignments existed that carry a config got it from an admin.
 */
export function assignmentOf(agent: Agent): { why: string; group: string; version: string; tiedWith: string[] } {
  const a = agent.spec?.assignment;
  const own = a?.source === ConfigSource.AGENT || (a?.source !== ConfigSource.GROUP && agent.spec?.remoteConfig?.data !== undefined);
  const group = a?.group ?? "";
  const version = a?.configuration ? `${a.configuration} v${a.version}` : "";
  const why = own ? "per-agent" : a?.source === ConfigSource.GROUP ? `group ${group}` : "none";
  return { why, group, version: own ? "own config" : version, tiedWith: a?.tiedWith ?? [] };
}

/** A label selector as one line: "env=prod, service.name In (a, b), canary DoesNotExist"; "every agent" when empty. */
export function selectorText(selector: LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) parts.push(`${e.key} ${e.operator}${e.values.length > 0 ? ` (${e.values.join(", ")})` : ""}`);
  return parts.join(", ") || "every agent";
}

/** What a rollout stage asks for: "5 agents", "up to 50 %", "3 named agents". */
export function stageSizeText(spec: RolloutStageSpec | undefined): string {
  const size = spec?.size;
  if (size?.case === "agents") return `${size.value} agent${size.value === 1 ? "" : "s"}`;
  if (size?.case === "percent") return `up to ${size.value} %`;
  if (size?.case === "instanceUids") return `${size.value.instanceUids.length} named agent${size.value.instanceUids.length === 1 ? "" : "s"}`;
  return "—";
}
