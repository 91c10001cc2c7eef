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
 *   node --import tsx bench/bare-node-server.ts PORT [--no-ws]
 *   pnpm bench peers --peer 'bare-node=ws://127.0.0.1:{port}/v1/opamp node --import tsx bench/bare-node-server.ts {port}'
 *
 * --no-ws: the same without ws after the 101 — the 101 written here, each
 * socket read by minimal-ws-reader.ts (a 'data' listener and a small object),
 * replies framed here: how near the Go server a Node server gets without
 * ws's per-socket objects (docs/performance.md §51). Not RFC 6455 complete.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AgentToServerSchema, ServerToAgentSchema, type AgentToServer } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { hash } from "node:crypto";
import * as http from "node:http";
import type { Socket } from "node:net";
import { WebSocketServer } from "ws";
import { MinimalWsReader } from "./minimal-ws-reader.js";

const port = Number(process.argv[2]);
const noWs = process.argv[3] === "--no-ws";
if (!Number.isInteger(port) || port <= 0 || (process.argv[3] !== undefined && !noWs)) {
  console.error("usage: node --import tsx bench/bare-node-server.ts PORT [--no-ws]");
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
  if (noWs) return upgradeWithoutWs(req, socket as Socket, head);
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on("message", (data: Buffer) => ws.send(reply(fromBinary(AgentToServerSchema, data.subarray(1)))));
  });
});
/** --no-ws: the plain 101 (as the gateway's websocket-handshake.ts writes it), then minimal-ws-reader.ts, replies framed here. */
function upgradeWithoutWs(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
  const accept = hash("sha1", `${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`, "base64");
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  socket.setNoDelay(true);
  const reader = new MinimalWsReader(socket, (data) => {
    const payload = reply(fromBinary(AgentToServerSchema, data.subarray(1)));
    const header = payload.length < 126 ? Buffer.from([0x82, payload.length]) : Buffer.from([0x82, 126, payload.length >> 8, payload.length & 0xff]);
    socket.write(Buffer.concat([header, payload]));
  });
  socket.on("data", reader.onData);
  socket.on("error", () => socket.destroy());
  if (head.length > 0) reader.onData(head);
}

server.listen(port, "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
