import { create, toBinary } from "@bufbuild/protobuf";
import { ServerToAgentSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FuzzDelivery, serverFault } from "./fuzz-delivery.js";
import type { HttpInput } from "./fuzz-inputs.js";

const input: HttpInput = { kind: "http", method: "POST", path: "/v1/opamp", contentType: "application/x-protobuf", contentEncoding: undefined, body: { bytes: new Uint8Array() } };

/** Keeps this process's event loop busy for `ms`: what a fuzzer starved at nice 19 goes through. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe("fuzz delivery's answer deadline", () => {
  let server: http.Server | undefined;
  afterEach(() => server?.close());

  async function serve(handler: http.RequestListener): Promise<string> {
    server = http.createServer(handler);
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it("an answer that came while the fuzzer itself was stalled is not taken for no answer", async () => {
    const reply = toBinary(ServerToAgentSchema, create(ServerToAgentSchema, {}));
    const url = await serve((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-type": "application/x-protobuf" }).end(reply));
    });
    const delivery = new FuzzDelivery({ wsUrl: url.replace("http", "ws"), httpUrl: url }, 100);
    const outcome = delivery.deliver(input, 0);
    // Stalled (from the check phase, as after an I/O callback) three times longer than the deadline.
    setImmediate(() => stall(300));
    expect(await outcome).toEqual({ kind: "http", status: 200, undecodableReply: false });
    delivery.close();
  });

  it("a server that does not answer is still a fault once the deadline passed", async () => {
    const url = await serve((req) => req.resume());
    const delivery = new FuzzDelivery({ wsUrl: url.replace("http", "ws"), httpUrl: url }, 100);
    const outcome = await delivery.deliver(input, 0);
    expect(outcome).toMatchObject({ kind: "http-error", code: "ETIMEDOUT" });
    expect(serverFault(outcome)).toMatch(/no HTTP answer within the answer timeout \(waited \d+ s, \d+ s of it with the fuzzer itself stalled; request sent whole, socket new\)/);
    delivery.close();
  });
});
