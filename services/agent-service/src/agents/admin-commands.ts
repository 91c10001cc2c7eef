import { clone } from "@bufbuild/protobuf";
import { AgentSchema, CommandKind, ConnectionType, type Agent, type AgentCommand } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import {
  AgentCapabilities,
  type AgentConfigMap,
  type ConnectionSettingsOffers,
  type CustomMessage,
  type PackageAvailable,
} from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex, type PushBus } from "@fleetplane/platform";
import type { CertificateOffers } from "../certificates/certificate-requests.js";
import type { IssuedCertificate } from "../certificates/certificate-signer.js";
import type { PackageOfferPort } from "../packages/package-registry.js";
import { AgentCannotError, InvalidRequestError } from "./agent-errors.js";
import { applyRemoteConfig, hasCapability, hasCustomCapability, queueCertificateRefusal, queueCommand, queueCustomMessage, type CommandTransition } from "./agent-model.js";
import type { AgentStore } from "./agent-store.js";
import { auditedCommand, type AuditedCommand, type CommandAuditPort } from "./command-audit-port.js";
import { newCommandId } from "./command-id.js";
import { applyCertificateOffer, applyConnectionSettings, applyPackagesAvailable, tlsCertificateOf } from "./offers.js";

export interface AdminCommandsOptions {
  store: AgentStore;
  audit: CommandAuditPort;
  push: PushBus;
  /** The OpAMP URL offered with a certificate to an agent without OpAMP settings of its own (see CertificateDesk). */
  opampEndpoint?: () => string;
  now?: () => number;
}

/** What applying a command to an agent yields: the command, and what it did to older ones (superseded). */
type Applied = { command: AgentCommand; transitions?: CommandTransition[] };
type CommandOptions = { commandId: string; requestedBy: string; now: number };

/** What every admin command answers: the agent as stored, the command, and whether its gateway was told at once. */
export interface CommandResult {
  agent: Agent;
  command: AgentCommand;
  pushed: boolean;
}

/**
 * The SendCommand flow of the design, for every kind of command an admin
 * (or an approved certificate request) gives an agent. All seven go through
 * one function, `command`, so they cannot differ in the sequence that
 * matters: the change is stored, then the agent's gateway is told, then the
 * command is recorded in the audit trail.
 */
export class AdminCommands implements CertificateOffers, PackageOfferPort {
  private readonly now: () => number;

  constructor(private readonly deps: AdminCommandsOptions) {
    this.now = deps.now ?? Date.now;
  }

  /** A remote configuration; an agent not yet known is created, so its config waits for it. */
  async setRemoteConfig(uid: string, config: AgentConfigMap, requestedBy: string): Promise<CommandResult> {
    if (Object.keys(config.configMap).length === 0) throw new InvalidRequestError("a remote config needs at least one file");
    return this.command(uid, requestedBy, "remote_config", { create: true }, (agent, options) => applyRemoteConfig(agent, config, options));
  }

  /** Restart or report-full-state. */
  async sendCommand(uid: string, kind: CommandKind, requestedBy: string): Promise<CommandResult> {
    if (kind !== CommandKind.RESTART && kind !== CommandKind.REPORT_FULL_STATE) {
      throw new InvalidRequestError("SendCommand takes COMMAND_KIND_RESTART or COMMAND_KIND_REPORT_FULL_STATE; use SetRemoteConfig for configurations");
    }
    return this.command(uid, requestedBy, kind === CommandKind.RESTART ? "restart" : "report_full_state", { create: false }, (agent, options) => {
      if (kind === CommandKind.RESTART && !hasCapability(agent, AgentCapabilities.AgentCapabilities_AcceptsRestartCommand)) {
        throw new AgentCannotError(uid, "does not accept restart commands (no AcceptsRestartCommand capability)");
      }
      return { command: queueCommand(agent, kind, options) };
    });
  }

  /** A custom message, for an agent that declared the capability. */
  async sendCustomMessage(uid: string, message: CustomMessage, requestedBy: string): Promise<CommandResult> {
    if (!message.capability) throw new InvalidRequestError("a custom message needs a capability");
    return this.command(uid, requestedBy, "custom_message", { create: false }, (agent, options) => {
      if (!hasCustomCapability(agent, message.capability)) {
        throw new AgentCannotError(uid, `did not declare the custom capability "${message.capability}"`);
      }
      return { command: queueCustomMessage(agent, message, options) };
    });
  }

  /** Connection settings offers. */
  async setConnectionSettings(uid: string, offers: ConnectionSettingsOffers, requestedBy: string): Promise<CommandResult> {
    return this.command(uid, requestedBy, "connection_settings", { create: false }, (agent, options) => applyConnectionSettings(agent, offers, options));
  }

  /** A package set, replacing the previous one. */
  async setPackagesAvailable(uid: string, packages: Record<string, PackageAvailable>, requestedBy: string): Promise<CommandResult> {
    return this.command(uid, requestedBy, "packages", { create: false }, (agent, options) => {
      if (!hasCapability(agent, AgentCapabilities.AgentCapabilities_AcceptsPackages)) {
        throw new AgentCannotError(uid, "does not accept packages (no AcceptsPackages capability)");
      }
      return applyPackagesAvailable(agent, packages, options);
    });
  }

  /** The certificate of an approved CSR, offered through the OpAMP connection settings. */
  async offerCertificate(uid: string, issued: IssuedCertificate, requestedBy: string): Promise<CommandResult> {
    const endpoint = this.deps.opampEndpoint?.() ?? "";
    return this.command(uid, requestedBy, "client_certificate", { create: false }, (agent, options) => {
      if (agent.status) delete agent.status.connectionSettingsRequest;
      return applyCertificateOffer(agent, tlsCertificateOf(issued), endpoint, options);
    });
  }

  /** Tells the agent its CSR was denied (error_response BAD_REQUEST, once). */
  async refuseCertificateRequest(uid: string, reason: string, requestedBy: string): Promise<CommandResult> {
    return this.command(uid, requestedBy, "certificate_refusal", { create: false }, (agent, options) => {
      if (agent.status) delete agent.status.connectionSettingsRequest;
      return { command: queueCertificateRefusal(agent, reason, options) };
    });
  }

  /**
   * change → store → notice → audit, the one sequence every command takes.
   * The change is applied and stored under the agent's lock (retried on a
   * revision conflict); its audit record is queued as soon as it is stored,
   * under the same lock, so no "delivered" can overtake it; only a stored
   * command is announced to the agent's gateway. The call waits for the
   * first attempt of the audit write (a healthy command-service answers
   * before the admin does; a sick one is retried in the background).
   */
  private async command(
    uid: string,
    requestedBy: string,
    kind: AuditedCommand["kind"],
    options: { create: boolean },
    apply: (agent: Agent, options: CommandOptions) => Applied,
  ): Promise<CommandResult> {
    const commandId = newCommandId(this.now());
    let recorded: Promise<void> = Promise.resolve();
    const stored = await this.deps.store.mutate(uid, options, (agent) => {
      const { command, transitions } = apply(agent, { commandId, requestedBy, now: this.now() });
      return {
        persist: "now",
        result: { agent: clone(AgentSchema, agent), command },
        transitions,
        // Queued under the agent's lock, so the audit has the record before
        // any reply or pull can mark the command delivered.
        stored: () => (recorded = this.deps.store.record(auditedCommand(uid, kind, command))),
      };
    });
    const pushed = await this.notice(stored.agent);
    await recorded;
    return { ...stored, pushed };
  }

  /** Tells the gateway holding the agent's WebSocket to pull; HTTP agents get the command on their next poll. */
  private async notice(agent: Agent): Promise<boolean> {
    const s = agent.status;
    if (!s?.connected || s.connectionType !== ConnectionType.WEBSOCKET) return false;
    const uid = instanceUidToHex(agent.metadata!.instanceUid);
    return this.deps.push.publish(s.gatewayId, { instanceUid: uid, connectionId: s.connectionId });
  }
}
