import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { CommandRecordSchema, CommandState, type CommandRecord } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "@fleetplane/platform";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openTemporaryCommandRepository } from "../temporary-command-audit.js";
import { CommandAudit, CommandNotFoundError, InvalidCommandError } from "./command-audit.js";
import type { CommandRepository } from "./command-repository.js";

const AGENT = "0190a1b2c3d4e5f60718293a4b5c6d7e";
const OTHER_AGENT = "0190a1b2c3d4e5f60718293a4b5c6d7f";
/** Ids sort in creation order, as the UUIDv7 ids callers use do. */
const idOf = (n: number) => n.toString(16).padStart(32, "0");
const commandFor = (n: number, instanceUid = AGENT): CommandRecord =>
  create(CommandRecordSchema, { id: idOf(n), instanceUid, kind: "remote_config", requestedBy: "spec" });

let opened: Awaited<ReturnType<typeof openTemporaryCommandRepository>>;
/** The limits the audit asked the store for, in order. */
let asked: number[];
let clock: number;
let audit: CommandAudit;
beforeEach(() => {
  opened = openTemporaryCommandRepository();
  asked = [];
  const repository: CommandRepository = {
    ...opened.repository,
    list: (query) => {
      asked.push(query.limit);
      return opened.repository.list(query);
    },
  };
  clock = 1_700_000_000_000;
  audit = new CommandAudit(repository, () => clock);
});
afterEach(async () => {
  await opened.close();
});

describe("recording a command", () => {
  it("keeps it PENDING, stamped with the time it was recorded", async () => {
    const recorded = await audit.record(commandFor(1));
    expect(recorded.state).toBe(CommandState.PENDING);
    expect(timestampMs(recorded.createdAt!)).toBe(clock);
    expect(recorded.stateChangedAt).toEqual(recorded.createdAt);
    expect((await audit.list({ pageSize: 0 })).records).toEqual([recorded]);
  });

  it("is idempotent: recording the same id again returns the first record unchanged", async () => {
    const first = await audit.record(commandFor(1));
    clock += 5_000;
    const again = await audit.record({ ...commandFor(1), kind: "restart" });
    expect(again).toEqual(first);
    expect((await audit.list({ pageSize: 0 })).records).toHaveLength(1);
  });

  it("refuses a record without an id, an agent or a kind", async () => {
    await expect(audit.record({ ...commandFor(1), id: "" })).rejects.toBeInstanceOf(InvalidCommandError);
    await expect(audit.record({ ...commandFor(1), instanceUid: "" })).rejects.toBeInstanceOf(InvalidCommandError);
    await expect(audit.record({ ...commandFor(1), kind: "" })).rejects.toBeInstanceOf(InvalidCommandError);
    expect((await audit.list({ pageSize: 0 })).records).toEqual([]);
  });
});

describe("a command's state", () => {
  it("moves forward PENDING → DELIVERED → APPLIED, each move stamped", async () => {
    await audit.record(commandFor(1));
    clock += 1_000;
    const delivered = await audit.updateState(idOf(1), CommandState.DELIVERED, "");
    expect(delivered.state).toBe(CommandState.DELIVERED);
    expect(timestampMs(delivered.stateChangedAt!)).toBe(clock);
    clock += 1_000;
    const applied = await audit.updateState(idOf(1), CommandState.APPLIED, "");
    expect(applied.state).toBe(CommandState.APPLIED);
    expect(timestampMs(applied.stateChangedAt!)).toBe(clock);
    expect((await audit.list({ pageSize: 0 })).records[0]).toEqual(applied);
  });

  it("ends FAILED with the agent's detail, or SUPERSEDED straight from PENDING", async () => {
    await audit.record(commandFor(1));
    await audit.record(commandFor(2));
    await audit.updateState(idOf(1), CommandState.DELIVERED, "");
    expect(await audit.updateState(idOf(1), CommandState.FAILED, "bad yaml at line 1")).toMatchObject({ state: CommandState.FAILED, detail: "bad yaml at line 1" });
    expect((await audit.updateState(idOf(2), CommandState.SUPERSEDED, "")).state).toBe(CommandState.SUPERSEDED);
  });

  it("never moves back: a late DELIVERED after APPLIED, or another end state after one, changes nothing", async () => {
    await audit.record(commandFor(1));
    await audit.updateState(idOf(1), CommandState.APPLIED, "");
    const settled = (await audit.list({ pageSize: 0 })).records[0]!;
    clock += 1_000;
    for (const late of [CommandState.PENDING, CommandState.DELIVERED, CommandState.FAILED, CommandState.SUPERSEDED, CommandState.APPLIED]) {
      expect(await audit.updateState(idOf(1), late, "late")).toEqual(settled);
    }
    expect((await audit.list({ pageSize: 0 })).records[0]).toEqual(settled);
  });

  it("cannot change for an id the trail does not hold", async () => {
    await expect(audit.updateState(idOf(404), CommandState.DELIVERED, "")).rejects.toBeInstanceOf(CommandNotFoundError);
    expect((await audit.list({ pageSize: 0 })).records).toEqual([]);
  });
});

describe("listing the trail", () => {
  it("pages newest first; the last page has no next token", async () => {
    for (let n = 1; n <= 5; n++) await audit.record(commandFor(n));
    const first = await audit.list({ pageSize: 2 });
    expect(first.records.map((r) => r.id)).toEqual([idOf(5), idOf(4)]);
    const second = await audit.list({ pageSize: 2, pageToken: first.nextPageToken });
    expect(second.records.map((r) => r.id)).toEqual([idOf(3), idOf(2)]);
    const last = await audit.list({ pageSize: 2, pageToken: second.nextPageToken });
    expect(last.records.map((r) => r.id)).toEqual([idOf(1)]);
    expect(last.nextPageToken).toBe("");
  });

  it("a page that exactly empties the trail has no next token", async () => {
    for (let n = 1; n <= 2; n++) await audit.record(commandFor(n));
    expect(await audit.list({ pageSize: 2 })).toMatchObject({ nextPageToken: "" });
  });

  it("lists one agent's commands only, when asked", async () => {
    await audit.record(commandFor(1));
    await audit.record(commandFor(2, OTHER_AGENT));
    await audit.record(commandFor(3));
    const mine = await audit.list({ pageSize: 1, instanceUid: AGENT });
    expect(mine.records.map((r) => r.id)).toEqual([idOf(3)]);
    const rest = await audit.list({ pageSize: 1, instanceUid: AGENT, pageToken: mine.nextPageToken });
    expect(rest.records.map((r) => r.id)).toEqual([idOf(1)]);
    expect(rest.nextPageToken).toBe("");
  });

  it("asks the store for one more than the page: the default page when none is asked, the maximum at most", async () => {
    await audit.list({ pageSize: 0 });
    await audit.list({ pageSize: 7 });
    await audit.list({ pageSize: MAX_PAGE_SIZE * 10 });
    expect(asked).toEqual([DEFAULT_PAGE_SIZE + 1, 8, MAX_PAGE_SIZE + 1]);
  });
});

describe("writing a batch", () => {
  const move = (n: number, state: CommandState, detail = "") => ({ kind: "transition" as const, id: idOf(n), state, detail });
  const rec = (n: number) => ({ kind: "record" as const, record: commandFor(n) });

  it("writes records and their moves in one call, each command's moves in order, a record before its moves", async () => {
    const results = await audit.writeBatch([
      // A move given before its command's record in the same batch still finds it.
      move(2, CommandState.DELIVERED),
      rec(1),
      rec(2),
      move(1, CommandState.DELIVERED),
      move(1, CommandState.FAILED, "unknown receiver"),
      // A late "delivered" after the failure does not move it back.
      move(1, CommandState.DELIVERED, "late"),
    ]);
    expect(results.map((r) => r.outcome)).toEqual(["written", "written", "written", "written", "written", "written"]);
    const records = (await audit.list({ pageSize: 0 })).records;
    expect(records.map((r) => [r.id, r.state, r.detail])).toEqual([
      [idOf(2), CommandState.DELIVERED, ""],
      [idOf(1), CommandState.FAILED, "unknown receiver"],
    ]);
    expect(timestampMs(records[1]!.createdAt!)).toBe(clock);
  });

  it("answers each entry alone: a move of a command not recorded, an invalid record; the rest written", async () => {
    const results = await audit.writeBatch([
      move(404, CommandState.APPLIED),
      { kind: "record", record: { ...commandFor(3), kind: "" } },
      { kind: "invalid", message: "entries[2].record.instance_uid: not hex" },
      rec(4),
      move(4, CommandState.APPLIED),
    ]);
    expect(results.map((r) => r.outcome)).toEqual(["not_found", "invalid", "invalid", "written", "written"]);
    expect(results[0]!.message).toContain(idOf(404));
    expect(results[1]!.message).toContain("kind");
    expect(results[2]!.message).toBe("entries[2].record.instance_uid: not hex");
    expect((await audit.list({ pageSize: 0 })).records.map((r) => [r.id, r.state])).toEqual([[idOf(4), CommandState.APPLIED]]);
  });

  it("can be written again after a failed call: records kept as first written, moves made once", async () => {
    const batch = [rec(1), move(1, CommandState.DELIVERED), rec(2)];
    await audit.writeBatch(batch);
    const first = (await audit.list({ pageSize: 0 })).records;
    clock += 5_000;
    expect((await audit.writeBatch(batch)).map((r) => r.outcome)).toEqual(["written", "written", "written"]);
    expect((await audit.list({ pageSize: 0 })).records).toEqual(first);
  });

  it("fails as a whole when the store does", async () => {
    const broken = new CommandAudit({ ...opened.repository, insertNewMany: () => Promise.reject(new Error("store down")) });
    await expect(broken.writeBatch([rec(1)])).rejects.toThrow("store down");
  });
});
