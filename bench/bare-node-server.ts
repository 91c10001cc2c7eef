/**
 * The floor under Fleetplane's numbers in `pnpm bench peers`: the least a Node
 * server must do to answer OpAMP over WebSocket — Node's HTTP server, ws's
 * upgrade and framing, protobuf-es decoding each AgentToServer and encoding a
 * ServerToAgent, agents kept in a Map — and nothing of Fleetplane (no store,
 * no audit, no offers, no authentication: it is not a server anyone should
 * run). Measured beside Fleetplane and the Go servers, it says how much of
 * Fleetplane's CPU per operation is Node and its libraries, and how much is
 * Fleetplane's own logic.
 *
 *   node --import tsx bench/bare-node-server.ts PORT
 *   pnpm bench peers --peer 'bare-node=ws://127.0.0.1:{port}/v1/opamp node --import tsx bench/bare-node-server.ts {port}'
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AgentToServerSchema, ServerToAgentSchema, type AgentToServer } from "@fleetplane/gen/opamp/proto/opamp_pb";
import * as http from "node:http";
import { WebSocketServer } from "ws";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: node --import tsx bench/bare-node-server.ts PORT");
  process.exit(2);
}

/** What the server keeps per agent: its last message, by instance UID (hex). */
const agents = new Map<string, AgentToServer>();
/** AcceptsStatus (0x1), as the smallest ServerToAgent the simulator treats as an answer. */
const CAPABILITIES = 1n;

function reply(message: AgentToServer): Uint8Array {
  agents.set(Buffer.from(message.instanceUid).toString("hex"), message);
  const body = toBinary(ServerToAgentSchema, create(ServerToAgentSchema, { instanceUid: message.instanceUid, capabilities: CAPABILITIES }));
  // The WebSocket message header: varint 0, then the protobuf.
  const framed = new Uint8Array(body.length + 1);
  framed.set(body, 1);
  return framed;
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const message = fromBinary(AgentToServerSchema, Buffer.concat(chunks));
    res.writeHead(200, { "Content-Type": "application/x-protobuf" }).end(reply(message).subarray(1));
  });
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on("upgrade", (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on("message", (data: Buffer) => ws.send(reply(fromBinary(AgentToServerSchema, data.subarray(1)))));
  });
});
server.listen(port, "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
