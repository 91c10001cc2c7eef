import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { ConnectionSchema, ConnectionType, type Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { PullServerToAgentsRequestSchema, PullServerToAgentsResponseSchema, ReportMessageRequestSchema, ReportMessagesRequestSchema } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { AgentToServerSchema, ServerToAgentSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { Logger } from "@fleetplane/platform";
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../agents/agent-errors.js";
import { AgentNotFoundError } from "../agents/agent-errors.js";
import { MAX_PULLS_PER_BATCH, createAgentGatewayServiceImpl } from "./agent-gateway-service-handler.js";

const ignore = () => {};
const logger = { warn: ignore, info: ignore, debug: ignore, error: ignore } as unknown as Logger;

/** The gateways' face over fakes that record, in order, what is stored and reported. */
function gatewayFace(o: { failSave?: boolean; failReport?: boolean } = {}) {
  const events: string[] = [];
  const reports = {
    reportMessage: async (connection: Connection) => {
      events.push(`report on ${connection.id}`);
      if (o.failReport) throw new InvalidRequestError("refused report");
      return { reply: create(ServerToAgentSchema), heartbeatIntervalSeconds: 30n };
    },
    // Agent 2 is not stored; agent 3 has something to send, and more after it.
    pull: async (uid: string, connectionId: string, revision: bigint) => {
      events.push(`pull ${uid.slice(0, 2)} on ${connectionId} at ${revision}`);
      if (uid === "02".repeat(16)) throw new AgentNotFoundError(uid);
      return uid === "03".repeat(16) ? { message: create(ServerToAgentSchema, { flags: 5n }), more: true } : { more: false };
    },
  };
  const connections = {
    save: async (connection: Connection) => {
      if (o.failSave) throw new InvalidRequestError("refused save");
      events.push(`save ${connection.id}`);
    },
  };
  const impl = createAgentGatewayServiceImpl({ reports: reports as never, connections: connections as never, leases: {} as never }, logger);
  return { impl, events };
}

const report = (id: string, saveConnection: boolean) => ({
  connection: create(ConnectionSchema, { id, type: ConnectionType.WEBSOCKET }),
  message: create(AgentToServerSchema, { instanceUid: new Uint8Array(16).fill(1) }),
  saveConnection,
});

describe("a report that carries its connection's save (the first message on a connection)", () => {
  it("saves the connection before the report and says so; a report without it saves nothing", async () => {
    const { impl, events } = gatewayFace();
    const out = await impl.reportMessages(create(ReportMessagesRequestSchema, { reports: [report("gw/ws/1", true), report("gw/ws/2", false)] }), {} as never);
    // The batch's reports run side by side: only each one's own order is fixed.
    expect([...events].sort()).toEqual(["report on gw/ws/1", "report on gw/ws/2", "save gw/ws/1"]);
    expect(events.indexOf("save gw/ws/1")).toBeLessThan(events.indexOf("report on gw/ws/1"));
    expect(out.results?.map((r) => r.connectionSaved)).toEqual([true, false]);
    expect(out.results?.map((r) => r.heartbeatIntervalSeconds)).toEqual([30n, 30n]);
  });

  it("the same through ReportMessage", async () => {
    const { impl, events } = gatewayFace();
    const out = await impl.reportMessage(create(ReportMessageRequestSchema, report("gw/ws/3", true)), {} as never);
    expect(events).toEqual(["save gw/ws/3", "report on gw/ws/3"]);
    expect(out.connectionSaved).toBe(true);
  });

  it("fails that report alone when the save fails, without reporting it; a saved connection whose report fails is said saved", async () => {
    const failedSave = gatewayFace({ failSave: true });
    const out = await failedSave.impl.reportMessages(create(ReportMessagesRequestSchema, { reports: [report("gw/ws/4", true)] }), {} as never);
    expect(failedSave.events).toEqual([]);
    expect(out.results?.[0]).toMatchObject({ errorCode: Code.InvalidArgument, connectionSaved: false });

    const failedReport = gatewayFace({ failReport: true });
    const out2 = await failedReport.impl.reportMessages(create(ReportMessagesRequestSchema, { reports: [report("gw/ws/5", true)] }), {} as never);
    expect(failedReport.events).toEqual(["save gw/ws/5", "report on gw/ws/5"]);
    expect(out2.results?.[0]).toMatchObject({ errorCode: Code.InvalidArgument, connectionSaved: true });
  });
});

describe("pulls in a batch (the push notices of a stage's pins)", () => {
  const pull = (n: number) => ({ instanceUid: Buffer.alloc(16, n).toString("hex"), connectionId: `gw/ws/${n}`, revision: BigInt(n) });

  it("answers each pull in request order, one that fails failing alone with its own code", async () => {
    const { impl, events } = gatewayFace();
    // As it goes on the wire (the handler returns plain objects, the defaults left out).
    const out = create(PullServerToAgentsResponseSchema, await impl.pullServerToAgents(create(PullServerToAgentsRequestSchema, { pulls: [pull(1), pull(2), pull(3)] }), {} as never));
    expect([...events].sort()).toEqual(["pull 01 on gw/ws/1 at 1", "pull 02 on gw/ws/2 at 2", "pull 03 on gw/ws/3 at 3"]);
    expect(out.results.map((r) => [r.message?.flags, r.more, r.errorCode])).toEqual([
      [undefined, false, 0],
      [undefined, false, Code.NotFound],
      [5n, true, 0],
    ]);
  });

  it("refuses a batch above MAX_PULLS_PER_BATCH, pulling none of it", async () => {
    const { impl, events } = gatewayFace();
    const pulls = Array.from({ length: MAX_PULLS_PER_BATCH + 1 }, (_, i) => pull(1 + (i % 200)));
    await expect(impl.pullServerToAgents(create(PullServerToAgentsRequestSchema, { pulls }), {} as never)).rejects.toMatchObject({ code: Code.InvalidArgument });
    expect(events).toEqual([]);
  });
});
