import * as http from "node:http";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { completeWebSocketHandshake } from "./websocket-handshake.js";

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A server that upgrades with completeWebSocketHandshake ("ours") or ws's handleUpgrade ("ws"); its WebSockets echo binary messages. */
async function serve(how: "ours" | "ws", maxPayload = 1024): Promise<{ port: number; sockets: WebSocket[]; handledByWs: () => number }> {
  const wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false, clientTracking: false });
  const sockets: WebSocket[] = [];
  let handledByWs = 0;
  const handleUpgrade = wss.handleUpgrade.bind(wss);
  wss.handleUpgrade = (...args) => {
    handledByWs++;
    handleUpgrade(...args);
  };
  const server = http.createServer((_req, res) => res.end());
  server.on("upgrade", (req, socket, head) => {
    const done = (ws: WebSocket) => {
      sockets.push(ws);
      ws.on("error", () => {}); // a message over the limit (the close code is what the test reads)
      ws.on("message", (data: Buffer, isBinary) => ws.send(data, { binary: isBinary }));
    };
    if (how === "ours") completeWebSocketHandshake(wss, req, socket, head, done);
    else wss.handleUpgrade(req, socket, head, done);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, sockets, handledByWs: () => handledByWs };
}

/** Sends a raw HTTP request and returns the response head (and body, if the server ends the socket). */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request));
    let got = "";
    socket.on("data", (chunk) => {
      got += chunk.toString("latin1");
      // A 101 leaves the socket open: its head is the whole answer.
      if (got.startsWith("HTTP/1.1 101") && got.includes("\r\n\r\n")) socket.destroy();
    });
    socket.on("close", () => resolve(got));
    socket.on("error", reject);
  });
}

const upgradeRequest = (headers: Record<string, string>, method = "GET") =>
  `${method} /v1/opamp HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;

const plain = { Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13" };

describe("the WebSocket opening handshake", () => {
  it("answers RFC 6455's own example with its accept value, byte for byte what ws answers", async () => {
    const ours = await serve("ours");
    const theirs = await serve("ws");
    const answer = await rawExchange(ours.port, upgradeRequest(plain));
    // RFC 6455 §1.3: key "dGhlIHNhbXBsZSBub25jZQ==" → "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
    expect(answer).toBe("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    expect(answer).toBe(await rawExchange(theirs.port, upgradeRequest(plain)));
    // Any case of the Upgrade token (RFC 6455 §4.2.1: case-insensitive).
    expect(await rawExchange(ours.port, upgradeRequest({ ...plain, Upgrade: "WebSocket" }))).toBe(answer);
    expect(ours.handledByWs()).toBe(0);
  });

  it("leaves every other request to ws, which answers it as it would alone", async () => {
    const ours = await serve("ours");
    const theirs = await serve("ws");
    const requests = [
      upgradeRequest({ ...plain, "Sec-WebSocket-Version": "8" }), // ws accepts the old version too
      upgradeRequest({ ...plain, "Sec-WebSocket-Version": "12" }),
      upgradeRequest({ ...plain, "Sec-WebSocket-Key": "too-short" }),
      upgradeRequest({ Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Version": "13" }),
      upgradeRequest({ ...plain, Upgrade: "h2c" }),
      upgradeRequest({ ...plain, "Sec-WebSocket-Protocol": "opamp, other" }), // ws picks the first offered
      upgradeRequest({ ...plain, "Sec-WebSocket-Protocol": "bad protocol,," }),
      upgradeRequest(plain, "POST"),
    ];
    for (const request of requests) {
      const answer = await rawExchange(ours.port, request);
      expect(answer, request).toBe(await rawExchange(theirs.port, request));
      expect(answer, request).toMatch(/^HTTP\/1\.1 (101|400|405) /);
    }
    expect(ours.handledByWs()).toBe(requests.length);
  });

  it("gives ws's client a WebSocket that carries binary messages both ways, answers pings and closes cleanly", async () => {
    const { port, sockets, handledByWs } = await serve("ours");
    const client = new WebSocket(`ws://127.0.0.1:${port}/v1/opamp`);
    await new Promise((r, j) => client.once("open", r).once("error", j));
    const echoed = new Promise<Buffer>((r) => client.once("message", (data: Buffer) => r(data)));
    client.send(Buffer.from([0, 1, 2, 3]));
    expect([...(await echoed)]).toEqual([0, 1, 2, 3]);
    const pong = new Promise<Buffer>((r) => client.once("pong", r));
    client.ping(Buffer.from("are you there"));
    expect((await pong).toString()).toBe("are you there");
    const closed = new Promise<[number, string]>((r) => sockets[0]!.once("close", (code, reason) => r([code, reason.toString()])));
    client.close(1000, "bye");
    expect(await closed).toEqual([1000, "bye"]);
    expect(handledByWs()).toBe(0);
  });

  it("keeps the server's message limit: a larger message closes the socket with 1009", async () => {
    const { port } = await serve("ours", 100);
    const client = new WebSocket(`ws://127.0.0.1:${port}/v1/opamp`);
    await new Promise((r, j) => client.once("open", r).once("error", j));
    const closed = new Promise<number>((r) => client.once("close", r));
    client.send(Buffer.alloc(101));
    expect(await closed).toBe(1009);
  });
});
