import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  CommandRecordSchema,
  CommandState,
  type CommandRecord,
} from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { fetchLimit, pageLimit, toPage } from "@fleetplane/platform";
import type { CommandRepository } from "./command-repository.js";

export class CommandNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`command ${id} is not in the audit trail`);
    this.name = "CommandNotFoundError";
  }
}

export class InvalidCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidCommandError";
  }
}

/**
 * Lifecycle rank: a record only moves forward (pending → delivered → applied or
 * failed). Late or repeated updates — say a "delivered" that arrives after the
 * agent already reported "applied" — must not move it back.
 */
const RANK: Record<CommandState, number> = {
  [CommandState.UNSPECIFIED]: 0,
  [CommandState.PENDING]: 1,
  [CommandState.DELIVERED]: 2,
  [CommandState.SUPERSEDED]: 3,
  [CommandState.APPLIED]: 3,
  [CommandState.FAILED]: 3,
};

const STATES = Object.keys(RANK).map(Number) as CommandState[];

/** Only forward: the store moves a record only from the states before this one. */
function movableFrom(state: CommandState): CommandState[] {
  return STATES.filter((s) => RANK[s] < RANK[state]);
}

/** One entry of a batch (CommandAudit.writeBatch): a record, a move, or one the caller already found invalid. */
export type AuditBatchEntry =
  | { kind: "record"; record: CommandRecord }
  | { kind: "transition"; id: string; state: CommandState; detail: string }
  | { kind: "invalid"; message: string };

/** What became of one entry: written (or already there), a move of a command not recorded, or refused. */
export interface AuditEntryResult {
  outcome: "written" | "not_found" | "invalid";
  message?: string;
}

/** The CommandUsecase of the design: keeps every command sent to agents for audit. */
export class CommandAudit {
  constructor(
    private readonly repository: CommandRepository,
    private readonly now: () => number = Date.now,
  ) {}

  async record(input: CommandRecord): Promise<CommandRecord> {
    const record = this.recordOf(input);
    // Recording is idempotent (callers retry): an id already recorded keeps its record.
    return (await this.repository.insertNew(record)) ?? record;
  }

  async updateState(id: string, state: CommandState, detail: string): Promise<CommandRecord> {
    const record = await this.repository.advanceState(id, { state, detail, stateChangedAtMs: this.now() }, movableFrom(state));
    if (!record) throw new CommandNotFoundError(id);
    return record;
  }

  /**
   * Many entries at once, as record and updateState would write them one by
   * one, with one store write for the records and one per round of moves.
   * For each command its entries keep their order, and its record (if in
   * the batch) is written before any of its moves: round k moves each
   * command by its k-th move of the batch — one round in the common case of
   * one move per command. The same batch written twice writes nothing new
   * (records kept as first written; moves only forward), so a caller may
   * retry a batch whose call failed. Rejects only when the store does.
   */
  async writeBatch(entries: readonly AuditBatchEntry[]): Promise<AuditEntryResult[]> {
    const results: AuditEntryResult[] = entries.map(() => ({ outcome: "written" }));
    const records = new Map<string, CommandRecord>();
    const moves = new Map<string, Array<{ index: number; state: CommandState; detail: string }>>();
    entries.forEach((entry, index) => {
      try {
        if (entry.kind === "invalid") throw new InvalidCommandError(entry.message);
        if (entry.kind === "record") {
          const record = this.recordOf(entry.record);
          if (!records.has(record.id)) records.set(record.id, record);
          return;
        }
        if (!entry.id) throw new InvalidCommandError("a state change needs the command's id");
        const list = moves.get(entry.id) ?? [];
        list.push({ index, state: entry.state, detail: entry.detail });
        moves.set(entry.id, list);
      } catch (err) {
        if (!(err instanceof InvalidCommandError)) throw err;
        results[index] = { outcome: "invalid", message: err.message };
      }
    });
    if (records.size > 0) await this.repository.insertNewMany([...records.values()]);
    const queues = [...moves.entries()];
    for (let round = 0; ; round++) {
      const now = this.now();
      const due = queues.flatMap(([id, list]) => (round < list.length ? [{ id, move: list[round]! }] : []));
      if (due.length === 0) break;
      const outcomes = await this.repository.advanceStates(due.map(({ id, move }) => ({ id, change: { state: move.state, detail: move.detail, stateChangedAtMs: now }, from: movableFrom(move.state) })));
      due.forEach(({ id, move }, i) => {
        if (outcomes[i] === "missing") results[move.index] = { outcome: "not_found", message: new CommandNotFoundError(id).message };
      });
    }
    return results;
  }

  /** A record as stored from what a caller sent; InvalidCommandError names what is missing. */
  private recordOf(input: CommandRecord): CommandRecord {
    if (!input.id) throw new InvalidCommandError("a command record needs an id");
    if (!input.instanceUid && !input.resource) throw new InvalidCommandError(`command ${input.id} names no agent and no resource`);
    if (!input.kind) throw new InvalidCommandError(`command ${input.id} has no kind`);
    const record = create(CommandRecordSchema, {
      ...input,
      createdAt: input.createdAt ?? timestampFromMs(this.now()),
      state: input.state === CommandState.UNSPECIFIED ? CommandState.PENDING : input.state,
    });
    record.stateChangedAt = record.createdAt;
    return record;
  }

  async list(query: { instanceUid?: string; namespace?: string; pageSize: number; pageToken?: string }): Promise<{ records: CommandRecord[]; nextPageToken: string }> {
    const limit = pageLimit(query.pageSize);
    const found = await this.repository.list({
      limit: fetchLimit(limit),
      ...(query.instanceUid ? { instanceUid: query.instanceUid } : {}),
      ...(query.namespace ? { namespace: query.namespace } : {}),
      ...(query.pageToken ? { after: query.pageToken } : {}),
    });
    const { page, nextPageToken } = toPage(found, limit, (last) => last.id);
    return { records: page, nextPageToken };
  }

  /** Commands recorded and not yet delivered to their agent, across every replica sharing the store. */
  countPending(): Promise<number> {
    return this.repository.countPending();
  }

  async ping(): Promise<void> {
    await this.repository.ping();
  }
}
