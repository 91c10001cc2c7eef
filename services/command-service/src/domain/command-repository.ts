import type { CommandRecord, CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";

/** A record's move to a later state (CommandAudit decides which moves are forward). */
export interface StateChange {
  state: CommandState;
  detail: string;
  stateChangedAtMs: number;
}

/** Where the audit trail is kept (the secondary port of command-service). */
export interface CommandRepository {
  /** Saves a record (insert or replace) durably. */
  save(record: CommandRecord): Promise<void>;
  get(id: string): Promise<CommandRecord | undefined>;
  /**
   * Inserts a record under a new id. Returns undefined when it was inserted,
   * or the record already there under that id (kept as it is): one write in
   * the common case, no read first.
   */
  insertNew(record: CommandRecord): Promise<CommandRecord | undefined>;
  /**
   * Applies `change` if the record's state is one of `from`, and returns the
   * record as it then stands (changed or not); undefined if there is no such
   * record. Writes only the state fields (LMDB: check and write in one
   * transaction; MongoDB: a look-up and a write by _id, ordered per command
   * by the caller).
   */
  advanceState(id: string, change: StateChange, from: readonly CommandState[]): Promise<CommandRecord | undefined>;
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
