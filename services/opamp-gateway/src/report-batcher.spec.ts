import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ConnectionSchema } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import type { ReportMessagesRequest } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { AgentToServerSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { SERVER_CAPABILITIES, serverToAgent } from "@fleetplane/opamp";
import { MAX_BATCH, ReportBatcher } from "./report-batcher.js";

/** Records each ReportMessages call and answers with `answer`. */
function agentService(answer: (req: ReportMessagesRequest) => Promise<unknown>) {
  const calls: number[] = [];
  const client = {
    reportMessages: (req: ReportMessagesRequest) => {
      calls.push(req.reports.length);
      return answer(req);
    },
  } as unknown as Client<typeof AgentGatewayService>;
  return { client, calls };
}

const conn = create(ConnectionSchema, { id: "c" });
const msg = (n: number) => create(AgentToServerSchema, { instanceUid: new Uint8Array(16).fill(n), sequenceNum: BigInt(n) });
const echo = async (req: ReportMessagesRequest) => ({
  results: req.reports.map((r) => ({ reply: serverToAgent(r.message!.instanceUid, SERVER_CAPABILITIES) })),
});

describe("the report batcher", () => {
  it("sends the reports of one event-loop turn in one call and gives each caller its own reply", async () => {
    const { client, calls } = agentService(echo);
    const batcher = new ReportBatcher(client);
    const replies = await Promise.all([1, 2, 3].map((n) => batcher.report(conn, msg(n))));
    expect(calls).toEqual([3]);
    expect(replies.map((r) => r.reply.instanceUid[0])).toEqual([1, 2, 3]);
  });

  it("splits more than a batch into several calls", async () => {
    const { client, calls } = agentService(echo);
    const batcher = new ReportBatcher(client);
    await Promise.all(Array.from({ length: MAX_BATCH + 10 }, (_, i) => batcher.report(conn, msg(i % 200))));
    expect(calls).toEqual([MAX_BATCH, 10]);
  });

  it("fails only the report that failed, with its code, and every report when the call fails", async () => {
    const { client } = agentService(async (req) => ({
      results: req.reports.map((r, i) => (i === 1 ? { errorCode: Code.InvalidArgument, errorMessage: "bad uid" } : { reply: serverToAgent(r.message!.instanceUid, SERVER_CAPABILITIES) })),
    }));
    const batcher = new ReportBatcher(client);
    const [a, b] = await Promise.allSettled([batcher.report(conn, msg(1)), batcher.report(conn, msg(2))]);
    expect(a.status).toBe("fulfilled");
    expect(b.status === "rejected" && ConnectError.from(b.reason).code).toBe(Code.InvalidArgument);

    const down = new ReportBatcher(agentService(async () => Promise.reject(new ConnectError("down", Code.Unavailable))).client);
    const both = await Promise.allSettled([down.report(conn, msg(1)), down.report(conn, msg(2))]);
    expect(both.map((r) => r.status === "rejected" && ConnectError.from(r.reason).code)).toEqual([Code.Unavailable, Code.Unavailable]);
  });
});
