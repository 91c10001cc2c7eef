import { clone, create } from "@bufbuild/protobuf";
import { CommandKind, ConfigSource, ConnectionType, type Agent, type AgentCommand } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import {
  AgentCapabilities,
  ConnectionSettingsStatuses,
  PackageStatusEnum,
  type AgentToServer,
  ConnectionSettingsOffersSchema,
  OpAMPConnectionSettingsSchema,
  PackageAvailableSchema,
  PackagesAvailableSchema,
  type ConnectionSettingsOffers,
  type PackageAvailable,
  type PackagesAvailable,
  type TLSCertificate,
  TLSCertificateSchema,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { IssuedCertificate } from "../certificates/certificate-signer.js";
import { hashesEqual } from "./config-hash.js";
import { hasCapability, pendingCommands, queuePayloadCommand, type CommandTransition } from "./agent-model.js";
import { InvalidRequestError } from "./agent-errors.js";
import { computeAllPackagesHash, computeConnectionSettingsHash, computePackageHash } from "./offer-hashes.js";
import { heartbeatOfferDue, type HeartbeatOffer } from "./heartbeat-offer.js";

/**
 * Connection settings and package offers: what the server wants the agent to
 * connect to and to install. Like remote config, the desired state lives in
 * the agent's spec with a hash, a command marks "not yet delivered", and the
 * agent's own report of the hash tells us it has it.
 */

type CommandOptions = { commandId: string; requestedBy: string; now: number };

/**
 * Connection settings as offered (an admin's or a group's): checked, with
 * the server's hash. `field` prefixes the error (e.g. "group.connection_settings").
 */
export function connectionSettingsOffer(offers: ConnectionSettingsOffers, field = "connection settings"): ConnectionSettingsOffers {
  const desired = clone(ConnectionSettingsOffersSchema, offers);
  if (!desired.opamp && !desired.ownMetrics && !desired.ownTraces && !desired.ownLogs && Object.keys(desired.otherConnections).length === 0) {
    throw new InvalidRequestError(`${field} need at least one of opamp, own_metrics, own_traces, own_logs or other_connections`);
  }
  if (desired.opamp && !desired.opamp.destinationEndpoint) throw new InvalidRequestError(`${field}: opamp connection settings need a destination_endpoint`);
  desired.hash = computeConnectionSettingsHash(desired);
  return desired;
}

/**
 * Offers connection settings to the agent as its own (an admin's, or a
 * signed certificate's): they win over its group's from now on. The group
 * path (group-offers.ts) marks its offers as the group's after this.
 */
export function applyConnectionSettings(agent: Agent, offers: ConnectionSettingsOffers, options: CommandOptions): { command: AgentCommand; transitions: CommandTransition[] } {
  return applyConnectionSettingsOffer(agent, connectionSettingsOffer(offers), ConfigSource.AGENT, options);
}

/** Stores checked connection settings from `source` and queues their command. */
export function applyConnectionSettingsOffer(agent: Agent, desired: ConnectionSettingsOffers, source: ConfigSource, options: CommandOptions): { command: AgentCommand; transitions: CommandTransition[] } {
  const spec = (agent.spec ??= {} as NonNullable<Agent["spec"]>);
  spec.connectionSettings = desired;
  spec.connectionSettingsSource = source;
  return queuePayloadCommand(agent, CommandKind.CONNECTION_SETTINGS_UPDATED, options, desired.hash, "newer connection settings were offered before delivery");
}

/**
 * The heartbeat interval offered with new OpAMP settings: an offer always
 * carries one (proto3 has no "unchanged"), and 0 would tell a heartbeating
 * agent to stop and an HTTP agent to stop polling. 30 s is the spec's default.
 */
const DEFAULT_HEARTBEAT_SECONDS = 30n;

/**
 * Offers a client certificate (from a signed CSR) through the OpAMP
 * connection settings. The agent's other settings stay as they are; with no
 * OpAMP settings yet, `endpoint` is the destination offered with it (the spec
 * requires one).
 */
export function applyCertificateOffer(agent: Agent, certificate: TLSCertificate, endpoint: string, options: CommandOptions): { command: AgentCommand; transitions: CommandTransition[] } {
  const current = agent.spec?.connectionSettings;
  const offers = current ? clone(ConnectionSettingsOffersSchema, current) : create(ConnectionSettingsOffersSchema);
  offers.opamp ??= create(OpAMPConnectionSettingsSchema, {
    destinationEndpoint: endpointForTransport(endpoint, agent.status?.connectionType),
    heartbeatIntervalSeconds: agent.status?.heartbeatIntervalSeconds || DEFAULT_HEARTBEAT_SECONDS,
  });
  offers.opamp.certificate = certificate;
  const queued = applyConnectionSettings(agent, offers, options);
  // Audited as client_certificate (command-audit-port.ts auditKindOf), also when the record is made again from the stored agent.
  queued.command.clientCertificate = true;
  return queued;
}

/**
 * The fallback endpoint (--csr-opamp-endpoint, or standalone's own address)
 * in the scheme of the transport the agent uses: one server URL serves both
 * (WebSocket and plain HTTP on one port), and an HTTP agent told to go to a
 * ws:// URL would have to change transport to take its certificate.
 */
export function endpointForTransport(endpoint: string, transport: ConnectionType | undefined): string {
  const scheme = /^(wss?|https?):\/\//i.exec(endpoint)?.[1]?.toLowerCase();
  if (!scheme) return endpoint;
  const secure = scheme === "wss" || scheme === "https";
  const wanted = transport === ConnectionType.HTTP ? (secure ? "https" : "http") : transport === ConnectionType.WEBSOCKET ? (secure ? "wss" : "ws") : scheme;
  return wanted + endpoint.slice(scheme.length);
}

/** A signed certificate as OpAMP offers it. */
export function tlsCertificateOf(issued: IssuedCertificate): TLSCertificate {
  // No private key: the agent generated it and keeps it (spec, CSR flow step 7).
  return create(TLSCertificateSchema, { cert: new TextEncoder().encode(issued.certificatePem), caCert: new TextEncoder().encode(issued.caCertificatePem) });
}

/** A package set as offered (an admin's or a group's): checked, every package and the set hashed. */
export function packagesOffer(packages: Record<string, PackageAvailable>): PackagesAvailable {
  const offered: Record<string, PackageAvailable> = {};
  for (const [name, pkg] of Object.entries(packages)) {
    if (!name) throw new InvalidRequestError("every package needs a name");
    if (!pkg.file?.downloadUrl) throw new InvalidRequestError(`package "${name}" needs file.download_url`);
    const copy = clone(PackageAvailableSchema, pkg);
    if (copy.hash.length === 0) copy.hash = computePackageHash(copy);
    offered[name] = copy;
  }
  return create(PackagesAvailableSchema, { packages: offered, allPackagesHash: computeAllPackagesHash(offered) });
}

/** Offers a package set to the agent as its own (wins over its group's; see applyConnectionSettings). */
export function applyPackagesAvailable(agent: Agent, packages: Record<string, PackageAvailable>, options: CommandOptions): { command: AgentCommand; transitions: CommandTransition[] } {
  return applyPackageSet(agent, packagesOffer(packages), ConfigSource.AGENT, options);
}

/** Stores a checked package set from `source` and queues its command. */
export function applyPackageSet(agent: Agent, desired: PackagesAvailable, source: ConfigSource, options: CommandOptions): { command: AgentCommand; transitions: CommandTransition[] } {
  const spec = (agent.spec ??= {} as NonNullable<Agent["spec"]>);
  spec.packagesAvailable = desired;
  spec.packagesSource = source;
  return queuePayloadCommand(agent, CommandKind.PACKAGES_AVAILABLE, options, desired.allPackagesHash, "a newer package set was offered before delivery");
}

const pendingFor = (agent: Agent, kind: CommandKind, hash: Uint8Array) => pendingCommands(agent).filter((c) => c.kind === kind && hashesEqual(c.configHash, hash));

/**
 * The connection settings to send, filtered to what the agent accepts, or
 * nothing; `offers` is absent when the agent accepts none of the parts, and
 * the pending command is settled anyway. Agents that report ConnectionSettingsStatus get them until they
 * report this hash; others get them once (while the command is pending).
 */
export function connectionSettingsToSend(agent: Agent, heartbeat: HeartbeatOffer | undefined): { offers?: ConnectionSettingsOffers; commandIds: string[] } | undefined {
  // The admin's offer with the server's heartbeat interval merged in (see
  // heartbeat-offer.ts); without a heartbeat offer, the admin's own.
  const desired = heartbeat ? heartbeat.desired : agent.spec?.connectionSettings;
  if (!desired) return undefined;
  // The admin's command names the admin's hash; the agent reports the hash of what it got.
  const admin = agent.spec?.connectionSettings;
  const pending = admin ? pendingFor(agent, CommandKind.CONNECTION_SETTINGS_UPDATED, admin.hash) : [];
  const reports = hasCapability(agent, AgentCapabilities.AgentCapabilities_ReportsConnectionSettingsStatus);
  const behind = reports && !hashesEqual(agent.status?.connectionSettingsStatus?.lastConnectionSettingsHash, desired.hash);
  if (pending.length === 0 && !behind && !(heartbeat && heartbeatOfferDue(agent, heartbeat))) return undefined;
  const offers = create(ConnectionSettingsOffersSchema, { hash: desired.hash });
  const can = (c: AgentCapabilities) => hasCapability(agent, c);
  if (desired.opamp && can(AgentCapabilities.AgentCapabilities_AcceptsOpAMPConnectionSettings)) offers.opamp = desired.opamp;
  if (desired.ownMetrics && can(AgentCapabilities.AgentCapabilities_ReportsOwnMetrics)) offers.ownMetrics = desired.ownMetrics;
  if (desired.ownTraces && can(AgentCapabilities.AgentCapabilities_ReportsOwnTraces)) offers.ownTraces = desired.ownTraces;
  if (desired.ownLogs && can(AgentCapabilities.AgentCapabilities_ReportsOwnLogs)) offers.ownLogs = desired.ownLogs;
  if (can(AgentCapabilities.AgentCapabilities_AcceptsOtherConnectionSettings)) offers.otherConnections = desired.otherConnections;
  const carriesSomething = offers.opamp || offers.ownMetrics || offers.ownTraces || offers.ownLogs || Object.keys(offers.otherConnections).length > 0;
  // Nothing here the agent can take: the pending command is settled without a message.
  return { ...(carriesSomething ? { offers } : {}), commandIds: pending.map((c) => c.id) };
}

/** The packages to send, or nothing; same rule as connection settings, on all_packages_hash. */
export function packagesToSend(agent: Agent): { packages: PackagesAvailable; commandIds: string[] } | undefined {
  const desired = agent.spec?.packagesAvailable;
  if (!desired || !hasCapability(agent, AgentCapabilities.AgentCapabilities_AcceptsPackages)) return undefined;
  const pending = pendingFor(agent, CommandKind.PACKAGES_AVAILABLE, desired.allPackagesHash);
  const reports = hasCapability(agent, AgentCapabilities.AgentCapabilities_ReportsPackageStatuses);
  const behind = reports && !hashesEqual(agent.status?.packageStatuses?.serverProvidedAllPackagesHash, desired.allPackagesHash);
  if (pending.length === 0 && !behind) return undefined;
  return { packages: desired, commandIds: pending.map((c) => c.id) };
}

/**
 * Audit outcomes of the offers from what the agent just reported: connection
 * settings APPLIED/FAILED for the offered hash; packages applied when every
 * offered package is Installed under the offered all_packages_hash, failed
 * when one failed to install.
 */
export function offerTransitions(agent: Agent, msg: AgentToServer, heartbeat?: HeartbeatOffer): CommandTransition[] {
  const out: CommandTransition[] = [];
  const admin = agent.spec?.connectionSettings;
  const cs = msg.connectionSettingsStatus;
  // The agent reports the hash of the merged settings (the admin's own when the server offers no interval).
  const settings = admin && cs ? (heartbeat ? heartbeat.desired : admin) : undefined;
  if (admin && settings && cs && hashesEqual(cs.lastConnectionSettingsHash, settings.hash)) {
    const to: "applied" | "failed" | undefined =
      cs.status === ConnectionSettingsStatuses.ConnectionSettingsStatuses_APPLIED ? "applied" : cs.status === ConnectionSettingsStatuses.ConnectionSettingsStatuses_FAILED ? "failed" : undefined;
    if (to) out.push(...commandsFor(agent, CommandKind.CONNECTION_SETTINGS_UPDATED, admin.hash).map((commandId) => ({ commandId, to, detail: to === "failed" ? cs.errorMessage : "" })));
  }
  const offered = agent.spec?.packagesAvailable;
  const ps = msg.packageStatuses;
  if (offered && ps && hashesEqual(ps.serverProvidedAllPackagesHash, offered.allPackagesHash)) {
    const statuses = Object.keys(offered.packages).map((name) => ps.packages[name]);
    const failed = statuses.find((s) => s?.status === PackageStatusEnum.PackageStatusEnum_InstallFailed);
    const done = statuses.every((s) => s?.status === PackageStatusEnum.PackageStatusEnum_Installed);
    const to: "applied" | "failed" | undefined = failed || ps.errorMessage ? "failed" : done ? "applied" : undefined;
    const detail = failed ? `${failed.name}: ${failed.errorMessage}` : ps.errorMessage;
    if (to) out.push(...commandsFor(agent, CommandKind.PACKAGES_AVAILABLE, offered.allPackagesHash).map((commandId) => ({ commandId, to, detail: to === "failed" ? detail : "" })));
  }
  return out;
}

const commandsFor = (agent: Agent, kind: CommandKind, hash: Uint8Array) => agent.commands.filter((c) => c.kind === kind && hashesEqual(c.configHash, hash)).map((c) => c.id);
