import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { CommandService, CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { DependencyUnavailableError, silentLogger } from "@fleetplane/platform";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuditEntryOutcome, CommandRecorderService } from "@fleetplane/gen/fleetplane/command/v1/command_recorder_service_pb";
import { createCommandServiceImpl } from "./command-service-handler.js";
import { createCommandRecorderImpl } from "./command-recorder-handler.js";
import { CommandAudit } from "./domain/command-audit.js";
import type { CommandRepository } from "./domain/command-repository.js";
import { openTemporaryCommandRepository } from "./temporary-command-audit.js";

const AGENT = "0190a1b2c3d4e5f60718293a4b5c6d7e";
/** The same instance UID as a client may spell it: a UUID in capitals. */
const AGENT_AS_UUID = "0190A1B2-C3D4-E5F6-0718-293A4B5C6D7E";
const idOf = (n: number) => n.toString(16).padStart(32, "0");

type Commands = Client<typeof CommandService> & Client<typeof CommandRecorderService>;

/** Serves CommandService and CommandRecorderService over an in-memory Connect transport, in front of `repository`. */
function clientFor(repository: CommandRepository): Commands {
  const audit = new CommandAudit(repository);
  const transport = createRouterTransport(({ service }) => {
    service(CommandService, createCommandServiceImpl(audit, silentLogger()));
    service(CommandRecorderService, createCommandRecorderImpl(audit, silentLogger()));
  });
  return { ...createClient(CommandService, transport), ...createClient(CommandRecorderService, transport) };
}

/** The Connect code a call is refused with. */
async function codeOf(call: Promise<unknown>): Promise<Code> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  throw new Error("the call was not refused");
}

let opened: ReturnType<typeof openTemporaryCommandRepository>;
let commands: Commands;
beforeEach(() => {
  opened = openTemporaryCommandRepository();
  commands = clientFor(opened.repository);
});
afterEach(async () => {
  await opened.close();
});

describe("RecordCommand", () => {
  it("records a command under the agent's canonical (hex) instance UID, however the caller spelled it", async () => {
    const { command } = await commands.recordCommand({ command: { id: idOf(1), instanceUid: AGENT_AS_UUID, kind: "restart", requestedBy: "spec" } });
    expect(command).toMatchObject({ id: idOf(1), instanceUid: AGENT, kind: "restart", state: CommandState.PENDING });
    expect((await commands.listCommands({ instanceUid: AGENT })).commands.map((c) => c.id)).toEqual([idOf(1)]);
  });

  it("refuses a request without a command, or a command without an id or kind, with InvalidArgument", async () => {
    expect(await codeOf(commands.recordCommand({}))).toBe(Code.InvalidArgument);
    expect(await codeOf(commands.recordCommand({ command: { id: "", instanceUid: AGENT, kind: "restart" } }))).toBe(Code.InvalidArgument);
    expect(await codeOf(commands.recordCommand({ command: { id: idOf(1), instanceUid: AGENT, kind: "" } }))).toBe(Code.InvalidArgument);
    expect((await commands.listCommands({})).commands).toEqual([]);
  });

  it("refuses an instance UID that is not 16 bytes of hex with InvalidArgument", async () => {
    expect(await codeOf(commands.recordCommand({ command: { id: idOf(1), instanceUid: "abc", kind: "restart" } }))).toBe(Code.InvalidArgument);
    expect(await codeOf(commands.recordCommand({ command: { id: idOf(1), instanceUid: "", kind: "restart" } }))).toBe(Code.InvalidArgument);
  });
});

describe("UpdateCommandState", () => {
  it("moves a recorded command forward and returns it", async () => {
    await commands.recordCommand({ command: { id: idOf(1), instanceUid: AGENT, kind: "remote_config" } });
    const { command } = await commands.updateCommandState({ id: idOf(1), state: CommandState.FAILED, detail: "bad yaml at line 1" });
    expect(command).toMatchObject({ state: CommandState.FAILED, detail: "bad yaml at line 1" });
  });

  it("answers NotFound for a command the trail does not hold", async () => {
    expect(await codeOf(commands.updateCommandState({ id: idOf(404), state: CommandState.DELIVERED }))).toBe(Code.NotFound);
  });
});

describe("ListCommands", () => {
  it("pages newest first with the next page's token, for one agent or all", async () => {
    for (let n = 1; n <= 3; n++) await commands.recordCommand({ command: { id: idOf(n), instanceUid: AGENT, kind: "restart" } });
    const first = await commands.listCommands({ instanceUid: AGENT_AS_UUID, pageSize: 2 });
    expect(first.commands.map((c) => c.id)).toEqual([idOf(3), idOf(2)]);
    const rest = await commands.listCommands({ pageSize: 2, pageToken: first.nextPageToken });
    expect(rest.commands.map((c) => c.id)).toEqual([idOf(1)]);
    expect(rest.nextPageToken).toBe("");
  });

  it("refuses an instance UID that is not 16 bytes of hex with InvalidArgument", async () => {
    expect(await codeOf(commands.listCommands({ instanceUid: "not-a-uid" }))).toBe(Code.InvalidArgument);
  });
});

describe("when the store fails", () => {
  const failing = (err: Error): CommandRepository => ({
    ...opened.repository,
    get: () => Promise.reject(err),
    insertNew: () => Promise.reject(err),
    insertNewMany: () => Promise.reject(err),
    advanceState: () => Promise.reject(err),
    advanceStates: () => Promise.reject(err),
    list: () => Promise.reject(err),
  });

  it("an unreachable store is Unavailable (retry later)", async () => {
    const down = clientFor(failing(new DependencyUnavailableError("MongoDB")));
    expect(await codeOf(down.listCommands({}))).toBe(Code.Unavailable);
    expect(await codeOf(down.recordCommand({ command: { id: idOf(1), instanceUid: AGENT, kind: "restart" } }))).toBe(Code.Unavailable);
    expect(await codeOf(down.writeAuditBatch({ entries: [{ entry: { case: "record", value: { id: idOf(1), instanceUid: AGENT, kind: "restart" } } }] }))).toBe(Code.Unavailable);
  });

  it("any other failure is Internal, and its text does not reach the caller", async () => {
    const broken = clientFor(failing(new Error("disk sector 7 unreadable")));
    const err = await broken.updateCommandState({ id: idOf(1), state: CommandState.DELIVERED }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Internal);
    expect((err as ConnectError).rawMessage).not.toMatch(/sector/);
  });
});

describe("WriteAuditBatch", () => {
  it("answers each entry in order: records under canonical UIDs, moves, and the entries refused alone", async () => {
    const { results } = await commands.writeAuditBatch({
      entries: [
        { entry: { case: "record", value: { id: idOf(1), instanceUid: AGENT_AS_UUID, kind: "remote_config" } } },
        { entry: { case: "transition", value: { id: idOf(1), state: CommandState.APPLIED } } },
        { entry: { case: "record", value: { id: idOf(2), instanceUid: "abc", kind: "restart" } } },
        { entry: { case: "transition", value: { id: idOf(404), state: CommandState.DELIVERED } } },
        { entry: { case: undefined } },
      ],
    });
    expect(results.map((r) => r.outcome)).toEqual([AuditEntryOutcome.WRITTEN, AuditEntryOutcome.WRITTEN, AuditEntryOutcome.INVALID, AuditEntryOutcome.NOT_FOUND, AuditEntryOutcome.INVALID]);
    expect(results[2]!.message).toContain("entries[2].record.instance_uid");
    expect(results[4]!.message).toContain("entries[4]");
    const { commands: listed } = await commands.listCommands({ instanceUid: AGENT });
    expect(listed.map((c) => [c.id, c.instanceUid, c.state])).toEqual([[idOf(1), AGENT, CommandState.APPLIED]]);
  });

  it("refuses a batch over 1,000 entries, naming the field", async () => {
    const entries = Array.from({ length: 1_001 }, (_, i) => ({ entry: { case: "transition" as const, value: { id: idOf(i + 1), state: CommandState.APPLIED } } }));
    const err = await commands.writeAuditBatch({ entries }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toContain("entries");
  });
});
