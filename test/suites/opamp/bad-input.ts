import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandKind } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentToServerSchema, ServerErrorResponseType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { WsAgent, description, httpPoll } from "../../support/simulated-agent.js";
import { eventually } from "../../support/eventually.js";
import type { Topology } from "./started-topology.js";

/** The gateway limits messages to 1 MiB in this suite. */
const LIMIT = 1024 * 1024;

/** A well-formed AgentToServer, without the OpAMP WebSocket header byte. */
const validMessage = (uid: Uint8Array) => toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: uid, agentDescription: description() as never }));

/** Bad input gets the OpAMP spec's answer, and never stops the server serving other agents. */
export function badInputBehaviour(topology: Topology): void {
  describe("bad input", () => {
    // Every bad input is followed by a message from this agent, which must still be answered.
    let healthy: WsAgent;
    beforeAll(async () => {
      healthy = await WsAgent.connect(topology().wsUrl);
      healthy.send({ agentDescription: description() as never });
      await eventually(() => healthy.received[0]);
    });
    afterAll(async () => {
      await healthy?.close();
    });
    const stillServed = async () => {
      const n = healthy.received.length;
      healthy.send();
      await eventually(() => healthy.received.length > n, 5_000, "healthy agent reply");
    };

    /** Sends one bad WebSocket frame: BadRequest comes back on the same socket, which goes on serving the agent. */
    const refusedOnTheSameSocket = async (frameFor: (valid: Uint8Array) => Uint8Array) => {
      const bad = await WsAgent.connect(topology().wsUrl);
      bad.sendRaw(frameFor(validMessage(bad.uid)));
      const reply = await eventually(() => bad.received[0]);
      expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
      expect(reply.errorResponse?.errorMessage).not.toBe("");
      bad.send({ agentDescription: description() as never });
      expect((await eventually(() => bad.received[1])).errorResponse).toBeUndefined();
      expect(bad.closeCode).toBeUndefined();
      await stillServed();
      await bad.close();
    };

    it("random bytes after the header get BadRequest on the same socket", async () => {
      await refusedOnTheSameSocket(() => Buffer.from([0x00, 0xff, 0xff, 0xff, 0xff]));
    });

    it("a wrong header byte gets BadRequest on the same socket", async () => {
      await refusedOnTheSameSocket((valid) => Buffer.concat([Buffer.from([0x05]), valid]));
    });

    it("a truncated protobuf over WebSocket gets BadRequest on the same socket", async () => {
      await refusedOnTheSameSocket((valid) => Buffer.concat([Buffer.from([0]), valid.subarray(0, valid.length - 3)]));
    });

    it("a header-less frame (older clients) is accepted", async () => {
      const agent = await WsAgent.connect(topology().wsUrl);
      agent.sendRaw(validMessage(agent.uid));
      expect((await eventually(() => agent.received[0])).errorResponse).toBeUndefined();
      await stillServed();
      await agent.close();
    });

    it("a 15-byte instance UID over WebSocket gets BadRequest", async () => {
      const short = await WsAgent.connect(topology().wsUrl, new Uint8Array(15));
      short.send();
      const reply = await eventually(() => short.received[0]);
      expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
      await stillServed();
      await short.close();
    });

    it("a 15-byte instance UID over HTTP gets 200 with BadRequest (an error_response is only read from a 200)", async () => {
      const reply = await httpPoll(topology().httpUrl, { instanceUid: new Uint8Array(15) });
      expect(reply.status).toBe(200); // an error_response is read only from a 200 (opamp-gateway http-reply-status.ts)
      expect(reply.message?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
      await stillServed();
    });

    it("an oversized WebSocket message closes the socket with 1009", async () => {
      const huge = await WsAgent.connect(topology().wsUrl);
      huge.sendRaw(Buffer.alloc(LIMIT + 10));
      await eventually(() => huge.closeCode, 5_000, "close after oversized frame");
      expect(huge.closeCode).toBe(1009);
      await stillServed();
    });

    it("an oversized HTTP body gets 413", async () => {
      const tooBig = await httpPoll(topology().httpUrl, {}, { rawBody: Buffer.alloc(LIMIT + 10) });
      expect(tooBig.status).toBe(413);
      await stillServed();
    });

    it("a gzip bomb that inflates past the limit gets 413", async () => {
      const bomb = await httpPoll(topology().httpUrl, {}, { rawBody: Buffer.alloc(8 * LIMIT), gzipRequest: true });
      expect(bomb.status).toBe(413);
      await stillServed();
    });

    it("gzip that does not inflate gets 400 saying so", async () => {
      const badGzip = await httpPoll(topology().httpUrl, {}, { rawBody: Buffer.from("not gzip at all"), headers: { "content-encoding": "gzip" } });
      expect(badGzip.status).toBe(400);
      expect(badGzip.message?.errorResponse?.errorMessage).toMatch(/gzip/);
      await stillServed();
    });

    it("a truncated protobuf over HTTP gets 400 with BadRequest", async () => {
      const valid = validMessage(uuidv7Bytes());
      const truncated = await httpPoll(topology().httpUrl, {}, { rawBody: valid.subarray(0, valid.length - 3) });
      expect(truncated.status).toBe(400);
      expect(truncated.message?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
      await stillServed();
    });

    it("admin calls with invalid or unknown agents get the right Connect codes", async () => {
      const t = topology();
      await expect(t.agents.getAgent({ instanceUid: "abc" })).rejects.toMatchObject({ code: 3 }); // InvalidArgument
      await expect(t.agents.getAgent({ instanceUid: hex(uuidv7Bytes()) })).rejects.toMatchObject({ code: 5 }); // NotFound
      await expect(t.agents.sendCommand({ instanceUid: hex(uuidv7Bytes()), kind: CommandKind.RESTART })).rejects.toMatchObject({ code: 5 });
    });
  });
}
