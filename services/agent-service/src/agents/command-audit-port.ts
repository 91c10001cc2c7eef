import type { UnsettledCommand } from "./audit-reconciliation.js";
import type { AgentCommand } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { CommandTransition } from "./agent-model.js";

/** One command as the audit trail records it. */
export interface AuditedCommand {
  id: string;
  instanceUid: string;
  /**
   * client_certificate: a signed CSR's certificate offered; certificate_refusal: a CSR refused or denied;
   * labels, remote_config_cleared: changes to the agent's record that send nothing by themselves;
   * agent_deleted: the agent removed from the store (DeleteAgent, or retention).
   */
  kind:
    | "remote_config"
    | "restart"
    | "report_full_state"
    | "connection_settings"
    | "packages"
    | "custom_message"
    | "client_certificate"
    | "certificate_refusal"
    | "labels"
    | "remote_config_cleared"
    | "agent_deleted";
  configHash: string;
  requestedBy: string;
  /** The agent's namespace ("" when the caller does not know it: read as "default"). */
  namespace: string;
  /** Recorded as done at once (APPLIED): a change with nothing to deliver. */
  done?: boolean;
}

/** A change to a fleet resource (namespace, configuration, group), recorded as done. */
export interface AuditedChange {
  id: string;
  namespace: string;
  /** e.g. "group/prod-gateways". */
  resource: string;
  /** e.g. "group_created", "configuration_version_created". */
  kind: string;
  requestedBy: string;
  detail: string;
}

/** The audit trail as agent-service sees it (command-service, over Connect). */
export interface CommandAuditPort {
  record(command: AuditedCommand): Promise<void>;
  transition(instanceUid: string, transition: CommandTransition): Promise<void>;
  /** Records a change to a fleet resource. */
  recordChange(change: AuditedChange): Promise<void>;
  /**
   * The agent's most recent records that are still PENDING or DELIVERED (see
   * audit-reconciliation.ts): what may have missed a transition.
   */
  unsettled(instanceUid: string): Promise<UnsettledCommand[]>;
}

/** The audit record of a command just queued for an agent (its hash in hex; empty for commands without payload). */
export function auditedCommand(instanceUid: string, kind: AuditedCommand["kind"], command: AgentCommand, namespace = ""): AuditedCommand {
  return { id: command.id, instanceUid, kind, configHash: Buffer.from(command.configHash).toString("hex"), requestedBy: command.requestedBy, namespace };
}
