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

/** The CommandUsecase of the design: keeps every command sent to agents for audit. */
export class CommandAudit {
  constructor(
    private readonly repository: CommandRepository,
    private readonly now: () => number = Date.now,
  ) {}

  async record(input: CommandRecord): Promise<CommandRecord> {
    if (!input.id) throw new InvalidCommandError("a command record needs an id");
    if (!input.instanceUid && !input.resource) throw new InvalidCommandError(`command ${input.id} names no agent and no resource`);
    if (!input.kind) throw new InvalidCommandError(`command ${input.id} has no kind`);
    const record = create(CommandRecordSchema, {
      ...input,
      createdAt: input.createdAt ?? timestampFromMs(this.now()),
      state: input.state === CommandState.UNSPECIFIED ? CommandState.PENDING : input.state,
    });
    record.stateChangedAt = record.createdAt;
    // Recording is idempotent (callers retry): an id already recorded keeps its record.
    return (await this.repository.insertNew(record)) ?? record;
  }

  async updateState(id: string, state: CommandState, detail: string): Promise<CommandRecord> {
    // Only forward: the store moves it only from the states before this one.
    const from = STATES.filter((s) => RANK[s] < RANK[state]);
    const record = await this.repository.advanceState(id, { state, detail, stateChangedAtMs: this.now() }, from);
    if (!record) throw new CommandNotFoundError(id);
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
