import type { CommandTransition } from "./agent-model.js";

/** The audit trail as agent-service sees it (command-service, over Connect). */
export interface CommandAuditPort {
  record(command: {
    id: string;
    instanceUid: string;
    kind: "remote_config" | "restart" | "report_full_state" | "connection_settings" | "packages" | "custom_message";
    configHash: string;
    requestedBy: string;
  }): Promise<void>;
  transition(instanceUid: string, transition: CommandTransition): Promise<void>;
}
