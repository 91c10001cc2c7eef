import { clone, create } from "@bufbuild/protobuf";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import {
  AgentCapabilities,
  ConnectionSettingsOffersSchema,
  ConnectionSettingsStatuses,
  OpAMPConnectionSettingsSchema,
  type AgentToServer,
  type ConnectionSettingsOffers,
  type ServerToAgent,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { hashesEqual } from "./config-hash.js";
import { hasCapability } from "./agent-model.js";
import { computeConnectionSettingsHash } from "./offer-hashes.js";

/**
 * Heartbeat interval offers (OpAMPConnectionSettings.heartbeat_interval_seconds).
 *
 * The server offers its interval to agents that report heartbeats and accept
 * OpAMP connection settings. The offer is not stored: it is merged, when the
 * reply is built, into the admin's own connection settings (or made alone
 * when there are none), so that changing the server's interval, or the agent
 * gaining the capabilities, takes effect without a write, and the admin's
 * offer stays exactly what the admin sent. Merging matters beyond
 * convenience: an OpAMPConnectionSettings without an interval means 0, which
 * the spec defines as "stop sending heartbeats" — an admin offer that did not
 * think of heartbeats would otherwise switch them off. An interval the admin
 * chose wins over the server's.
 */

/** The spec's heartbeat interval when the server offers none. */
export const SPEC_DEFAULT_HEARTBEAT_SECONDS = 30n;

export function takesHeartbeatOffer(agent: Agent): boolean {
  return (
    hasCapability(agent, AgentCapabilities.AgentCapabilities_ReportsHeartbeat) &&
    hasCapability(agent, AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings)
  );
}

/**
 * The connection settings the agent should have: the admin's offer, with
 * the server's heartbeat interval merged in when the agent takes it (and a
 * new hash over the result, since the spec's hash covers all settings).
 * `heartbeatSeconds` 0 means the server offers no interval.
 */
export function desiredConnectionSettings(agent: Agent, heartbeatSeconds: bigint): ConnectionSettingsOffers | undefined {
  const admin = agent.spec?.connectionSettings;
  if (heartbeatSeconds <= 0n || !takesHeartbeatOffer(agent)) return admin;
  if (admin?.opamp && admin.opamp.heartbeatIntervalSeconds > 0n) return admin;
  // The spec requires a destination: the admin's, else the URL the agent
  // already uses, so accepting the offer changes nothing but the interval.
  const endpoint = admin?.opamp?.destinationEndpoint || agent.status?.opampEndpoint;
  if (!endpoint) return admin;
  const last = lastMerge.get(agent);
  if (last && last.admin === admin && last.endpoint === endpoint && last.heartbeatSeconds === heartbeatSeconds) return last.merged;
  const merged = admin ? clone(ConnectionSettingsOffersSchema, admin) : create(ConnectionSettingsOffersSchema);
  merged.opamp = merged.opamp ?? create(OpAMPConnectionSettingsSchema, { destinationEndpoint: endpoint });
  merged.opamp.heartbeatIntervalSeconds = heartbeatSeconds;
  merged.hash = computeConnectionSettingsHash(merged);
  lastMerge.set(agent, { admin, endpoint, heartbeatSeconds, merged });
  return merged;
}

/**
 * The last merge made for each (cached) agent. Each message is answered
 * with one merge (see heartbeatOffer), but every message of an agent that
 * takes the offer needs one, and a merge costs an encode and a SHA-256; its
 * inputs — the admin's offer (replaced, never edited in place, when an admin
 * offers anew), the endpoint and the server's interval — rarely change from
 * one message to the next, so the result is reused until one does.
 */
const lastMerge = new WeakMap<Agent, { admin: ConnectionSettingsOffers | undefined; endpoint: string; heartbeatSeconds: bigint; merged: ConnectionSettingsOffers }>();

/**
 * The server's heartbeat offer to one agent as it stands: the server's
 * interval and the connection settings the agent should have. Worked out
 * once for each message the server answers (after the agent's report is
 * applied), and handed to everything that needs it: the audit of settings
 * outcomes, the reply builder and the interval bookkeeping.
 */
export interface HeartbeatOffer {
  /** The server's interval; 0: it offers none. */
  readonly seconds: bigint;
  /** The admin's offer with the interval merged in, the admin's own, or none. */
  readonly desired: ConnectionSettingsOffers | undefined;
}

export function heartbeatOffer(agent: Agent, heartbeatSeconds: bigint): HeartbeatOffer {
  return { seconds: heartbeatSeconds, desired: desiredConnectionSettings(agent, heartbeatSeconds) };
}

/**
 * Whether the server's part of the desired settings still has to reach an
 * agent that cannot report ConnectionSettingsStatus (agents that can are
 * resent until they report the hash, like any offer): until it was sent once
 * with this interval.
 */
export function heartbeatOfferDue(agent: Agent, offer: HeartbeatOffer): boolean {
  const desired = offer.desired;
  if (!desired || desired === agent.spec?.connectionSettings || offer.seconds <= 0n) return false;
  if (hasCapability(agent, AgentCapabilities.AgentCapabilities_ReportsConnectionSettingsStatus)) return false;
  return agent.status?.heartbeatIntervalSeconds !== desired.opamp?.heartbeatIntervalSeconds;
}

/**
 * Records the interval an agent now runs at, from what it reported (APPLIED
 * for the desired settings' hash) or, for an agent that cannot report it,
 * from what was just sent (the spec says it MUST use an offered interval).
 * Only one of the two ever applies to an agent, so the report path passes
 * both at once. Returns true when the interval changed.
 */
export function noteHeartbeatInterval(agent: Agent, offer: HeartbeatOffer, seen: { reported?: AgentToServer; sent?: ServerToAgent }): boolean {
  if (!hasCapability(agent, AgentCapabilities.AgentCapabilities_ReportsHeartbeat)) return false;
  const reports = hasCapability(agent, AgentCapabilities.AgentCapabilities_ReportsConnectionSettingsStatus);
  let interval: bigint | undefined;
  if (reports && seen.reported?.connectionSettingsStatus) {
    const cs = seen.reported.connectionSettingsStatus;
    const desired = offer.desired;
    if (desired?.opamp && cs.status === ConnectionSettingsStatuses.ConnectionSettingsStatuses_APPLIED && hashesEqual(cs.lastConnectionSettingsHash, desired.hash)) {
      interval = desired.opamp.heartbeatIntervalSeconds;
    }
  } else if (!reports && seen.sent?.connectionSettings?.opamp) {
    interval = seen.sent.connectionSettings.opamp.heartbeatIntervalSeconds;
  }
  const status = agent.status;
  if (interval === undefined || !status || status.heartbeatIntervalSeconds === interval) return false;
  status.heartbeatIntervalSeconds = interval;
  return true;
}
