/**
 * A deliberately broken OpAMP server, for proving the chaos fuzzer's checks
 * can fail: it prints the standalone banner like Fleetplane, answers
 * WebSocket heartbeats, and then
 *   - answers a plain-HTTP PUT with 500, and
 *   - dies of an unhandled rejection on a gzip request body (first byte 0x1f).
 * Run: node --import tsx test/support/broken-opamp-server.ts
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AgentToServerSchema, ServerToAgentSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    if (body[0] === 0x1f) void Promise.reject(new Error("the broken stub cannot read gzip"));
    res.writeHead(req.method === "PUT" ? 500 : 400).end();
  });
});
const wss = new WebSocketServer({ noServer: true });
server.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => {
  // Text frames with bad UTF-8 arrive as socket errors; the stub is meant to break only as documented.
  ws.on("error", () => ws.terminate());
  ws.on("message", (data: Buffer) => {
    try {
      const msg = fromBinary(AgentToServerSchema, data.subarray(1));
      ws.send(Buffer.concat([Buffer.from([0]), toBinary(ServerToAgentSchema, create(ServerToAgentSchema, { instanceUid: msg.instanceUid }))]));
    } catch {
      ws.close(1002);
    }
  });
}));
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo;
  process.stderr.write(`  OpAMP:     ws://127.0.0.1:${port}/v1/opamp\n  Admin API: http://127.0.0.1:${port}\n  Data:      (none)\n`);
});
