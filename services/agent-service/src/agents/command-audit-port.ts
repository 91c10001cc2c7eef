import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { CommandKind, type AgentCommand } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
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
  /**
   * When the command was made. Unset: when command-service takes the record
   * (moments later); a record written again by reconciliation
   * (audit-reconciliation.ts) carries the command's own time.
   */
  createdAt?: Timestamp;
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
   * The agent's most recent records, whatever their state, and whether they
   * are all it has (see audit-reconciliation.ts): what may have missed a
   * transition, and which commands have no record at all.
   */
  recent(instanceUid: string): Promise<RecentRecords>;
}

/** One audit record as reconciliation needs it: its id, and whether it may still move. */
export interface RecordedCommand {
  id: string;
  /** settled: APPLIED, FAILED or SUPERSEDED (a record only moves forward: nothing left to do). */
  state: "pending" | "delivered" | "settled";
}

/** An agent's newest records (newest first, as the trail orders them: by id). */
export interface RecentRecords {
  records: RecordedCommand[];
  /**
   * Every record the agent has is in `records` (fewer came back than were
   * asked for). When false the list was cut at the lookback: older records
   * may exist beyond it.
   */
  complete: boolean;
}

/**
 * The audit kind of each kind of command an agent holds, where the kind
 * alone decides it (see auditKindOf). UNSPECIFIED has none.
 */
const AUDIT_KIND: Readonly<Partial<Record<CommandKind, AuditedCommand["kind"]>>> = {
  [CommandKind.REMOTE_CONFIG_UPDATED]: "remote_config",
  [CommandKind.REPORT_FULL_STATE]: "report_full_state",
  [CommandKind.RESTART]: "restart",
  [CommandKind.CONNECTION_SETTINGS_UPDATED]: "connection_settings",
  [CommandKind.PACKAGES_AVAILABLE]: "packages",
  [CommandKind.CUSTOM_MESSAGE]: "custom_message",
  [CommandKind.CERTIFICATE_REFUSAL]: "certificate_refusal",
};

/**
 * The audit kind of a command an agent holds, from the command alone: the
 * maker's record and one made again from the stored agent
 * (audit-reconciliation.ts) both take it from here, so they cannot differ
 * — command-service keeps whichever lands first. A signed CSR's certificate
 * goes out as connection settings (offers.ts applyCertificateOffer); the
 * command is marked for it, as nothing else on it tells it from an admin's
 * or a group's settings. Undefined for UNSPECIFIED.
 */
export function auditKindOf(command: AgentCommand): AuditedCommand["kind"] | undefined {
  if (command.clientCertificate && command.kind === CommandKind.CONNECTION_SETTINGS_UPDATED) return "client_certificate";
  return AUDIT_KIND[command.kind];
}

/** The audit record of a command just queued for an agent (its hash in hex; empty for commands without payload). */
export function auditedCommand(instanceUid: string, command: AgentCommand, namespace = ""): AuditedCommand {
  // A command is queued with its kind (agent-model.ts); one without (UNSPECIFIED) is never recorded: reconciliation skips it.
  return { id: command.id, instanceUid, kind: auditKindOf(command)!, configHash: Buffer.from(command.configHash).toString("hex"), requestedBy: command.requestedBy, namespace };
}
