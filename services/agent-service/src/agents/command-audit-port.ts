import type { AgentCommand } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { CommandTransition } from "./agent-model.js";

/** One command as the audit trail records it. */
export interface AuditedCommand {
  id: string;
  instanceUid: string;
  /** client_certificate: a signed CSR's certificate offered; certificate_refusal: a CSR refused or denied. */
  kind: "remote_config" | "restart" | "report_full_state" | "connection_settings" | "packages" | "custom_message" | "client_certificate" | "certificate_refusal";
  configHash: string;
  requestedBy: string;
}

/** The audit trail as agent-service sees it (command-service, over Connect). */
export interface CommandAuditPort {
  record(command: AuditedCommand): Promise<void>;
  transition(instanceUid: string, transition: CommandTransition): Promise<void>;
}

/** The audit record of a command just queued for an agent (its hash in hex; empty for commands without payload). */
export function auditedCommand(instanceUid: string, kind: AuditedCommand["kind"], command: AgentCommand): AuditedCommand {
  return { id: command.id, instanceUid, kind, configHash: Buffer.from(command.configHash).toString("hex"), requestedBy: command.requestedBy };
}
