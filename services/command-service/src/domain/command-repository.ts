import type { CommandRecord, CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";

/** A record's move to a later state (CommandAudit decides which moves are forward). */
export interface StateChange {
  state: CommandState;
  detail: string;
  stateChangedAtMs: number;
}

/** One record's change and the states it may move from (advanceStates). */
export interface GuardedStateChange {
  id: string;
  change: StateChange;
  from: readonly CommandState[];
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
   * insertNew for many records in one write: each id not yet in the store is
   * inserted; an id already there keeps its record. Ids are distinct.
   */
  insertNewMany(records: readonly CommandRecord[]): Promise<void>;
  /**
   * advanceState for many records in one write (at most one change per id):
   * for each, whether it moved ("moved"), was left as it was ("kept": at or
   * past the state), or is not in the store ("missing"), in the given order.
   * Same guard as advanceState (MongoDB: one conditional write each, in one
   * bulkWrite; FerretDB: one look-up of all, then one bulkWrite by `_id`).
   */
  advanceStates(changes: readonly GuardedStateChange[]): Promise<Array<"moved" | "kept" | "missing">>;
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
