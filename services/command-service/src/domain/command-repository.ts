import type { CommandRecord } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";

/** Where the audit trail is kept (the secondary port of command-service). */
export interface CommandRepository {
  /** Saves a record (insert or replace) durably. */
  save(record: CommandRecord): Promise<void>;
  get(id: string): Promise<CommandRecord | undefined>;
  /**
   * Newest first; `after` is the id of the last record of the previous page.
   * `namespace`: only that namespace's records (records without one are in
   * "default").
   */
  list(query: { instanceUid?: string; namespace?: string; limit: number; after?: string }): Promise<CommandRecord[]>;
  /**
   * How many records are PENDING (recorded, not yet delivered to their agent).
   * Served by an index over pending records only: its cost follows the number
   * of pending commands, never the length of the whole trail.
   */
  countPending(): Promise<number>;
  ping(): Promise<void>;
}
