import * as http from "node:http";
import { createRequire } from "node:module";
import * as net from "node:net";
import { dirname, join } from "node:path";
import type { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import type { ServerWebSocketEvents } from "./server-websocket.js";
import { completeWebSocketHandshake, firstSubprotocol } from "./websocket-handshake.js";
import { closedAfterEach, frame, random } from "./websocket-spec-support.js";

// ws's own Sec-WebSocket-Protocol parser, by its file (the package's exports map has no entry for it).
const wsRequire = createRequire(import.meta.url);
const subprotocol = wsRequire(join(dirname(wsRequire.resolve("ws")), "lib", "subprotocol.js")) as { parse(header: string): Set<string> };

const { servers, upgraded } = closedAfterEach();

/** Echoes each message back as the same kind of frame (payloads under 126 bytes here). */
const echoEvents: ServerWebSocketEvents = {
  message: (ws, data, isBinary) => ws.socket.write(Buffer.concat([Buffer.from([isBinary ? 0x82 : 0x81, data.length]), data])),
  pong: () => {},
  error: () => {},
  stalled: () => {},
  close: () => {},
};

/** A server that upgrades with completeWebSocketHandshake ("ours") or ws's handleUpgrade ("ws"); both echo messages. */
async function serve(how: "ours" | "ws"): Promise<{ port: number; handledByWs: () => number }> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024, perMessageDeflate: false, clientTracking: false });
  let handledByWs = 0;
  const handleUpgrade = wss.handleUpgrade.bind(wss);
  wss.handleUpgrade = (...args) => {
    handledByWs++;
    handleUpgrade(...args);
  };
  const server = http.createServer((_req, res) => res.end());
  server.on("upgrade", (req, socket, head) => {
    upgraded.push(socket);
    if (how === "ours") {
      completeWebSocketHandshake(wss, req, socket, head, { maxPayload: 1024, closeTimeoutMs: 30_000, maxUnsentBytes: 0 }, echoEvents);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.on("error", () => {});
      ws.on("message", (data: Buffer, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, handledByWs: () => handledByWs };
}

const HELLO = frame(0x82, Buffer.from("hello"));
const ECHO = Buffer.from([0x82, 5, ...Buffer.from("hello")]);

/**
 * Sends `request`, with `inRequest` in the same write after its head (the
 * upgrade's `head`), and returns all that came back. After a 101 it sends
 * the rest of HELLO (all of it when nothing went with the request) and reads
 * until `replyBytes` have come after the 101's head (the echo; a pong too
 * when a ping went first); any other answer is read until the server closes
 * the connection.
 */
function rawExchange(port: number, request: string, inRequest: Buffer = Buffer.alloc(0), replyBytes = ECHO.length): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(Buffer.concat([Buffer.from(request), inRequest])));
    let got = Buffer.alloc(0);
    let sentRest = false;
    socket.on("data", (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      const headEnd = got.indexOf("\r\n\r\n");
      if (!got.toString("latin1").startsWith("HTTP/1.1 101") || headEnd === -1) return;
      if (!sentRest) {
        sentRest = true;
        // What of HELLO did not go with the request (a ping before it counts for nothing).
        const sent = inRequest.length > HELLO.length ? HELLO.length : inRequest.length;
        if (sent < HELLO.length) socket.write(HELLO.subarray(sent));
      }
      if (got.length >= headEnd + 4 + replyBytes) socket.destroy();
    });
    socket.on("close", () => resolve(got.toString("latin1")));
    socket.on("error", reject);
  });
}

const upgradeRequest = (headers: Record<string, string>, method = "GET") =>
  `${method} /v1/opamp HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;

const plain = { Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13" };
const without = (name: keyof typeof plain) => Object.fromEntries(Object.entries(plain).filter(([k]) => k !== name));

describe("the WebSocket opening handshake", () => {
  it("answers RFC 6455's own example with its accept value, and a message sent right after is echoed", async () => {
    const ours = await serve("ours");
    const answer = await rawExchange(ours.port, upgradeRequest(plain));
    // RFC 6455 §1.3: key "dGhlIHNhbXBsZSBub25jZQ==" → "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
    expect(answer).toBe(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n${ECHO.toString("latin1")}`);
    expect(ours.handledByWs()).toBe(0);
  });

  // [what, request, accepted by ws]
  const table: Array<[string, string, boolean]> = [
    ["plain", upgradeRequest(plain), true],
    ["Upgrade in lower case", upgradeRequest({ ...plain, Upgrade: "websocket" }), true],
    ["Upgrade in upper case", upgradeRequest({ ...plain, Upgrade: "WEBSOCKET" }), true],
    ["Upgrade in mixed case", upgradeRequest({ ...plain, Upgrade: "WebSocket" }), true],
    ["version 8", upgradeRequest({ ...plain, "Sec-WebSocket-Version": "8" }), true],
    ["version 12", upgradeRequest({ ...plain, "Sec-WebSocket-Version": "12" }), false],
    ["no version", upgradeRequest(without("Sec-WebSocket-Version")), false],
    ["version abc", upgradeRequest({ ...plain, "Sec-WebSocket-Version": "abc" }), false],
    ["version 13 twice", `${upgradeRequest(plain).slice(0, -2)}Sec-WebSocket-Version: 13\r\n\r\n`, false],
    ["a key too short", upgradeRequest({ ...plain, "Sec-WebSocket-Key": "too-short" }), false],
    ["a key of 24 characters not base64 of 16 bytes", upgradeRequest({ ...plain, "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=A" }), false],
    ["no key", upgradeRequest(without("Sec-WebSocket-Key")), false],
    ["Upgrade h2c", upgradeRequest({ ...plain, Upgrade: "h2c" }), false],
    ["POST", upgradeRequest(plain, "POST"), false],
    ["subprotocols a, b (ws picks a)", upgradeRequest({ ...plain, "Sec-WebSocket-Protocol": "a, b" }), true],
    ["subprotocol opamp", upgradeRequest({ ...plain, "Sec-WebSocket-Protocol": "opamp" }), true],
    ["subprotocols a,,b", upgradeRequest({ ...plain, "Sec-WebSocket-Protocol": "a,,b" }), false],
    ["subprotocols a, a", upgradeRequest({ ...plain, "Sec-WebSocket-Protocol": "a, a" }), false],
    ["subprotocols ,a", upgradeRequest({ ...plain, "Sec-WebSocket-Protocol": ",a" }), false],
    ["subprotocols a b", upgradeRequest({ ...plain, "Sec-WebSocket-Protocol": "a b" }), false],
    ["subprotocols a,", upgradeRequest({ ...plain, "Sec-WebSocket-Protocol": "a," }), false],
    ["an empty subprotocol list", upgradeRequest({ ...plain, "Sec-WebSocket-Protocol": "" }), false],
    ["an extension offered (never agreed to)", upgradeRequest({ ...plain, "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" }), true],
  ];

  it.each(table)("answers %s byte for byte as ws's handleUpgrade does (Sec-WebSocket-Accept included), and echoes a message when it upgrades", async (_, request, accepted) => {
    const ours = await serve("ours");
    const theirs = await serve("ws");
    const answer = await rawExchange(ours.port, request);
    expect(answer).toBe(await rawExchange(theirs.port, request));
    if (accepted) {
      expect(answer).toMatch(/^HTTP\/1\.1 101 /);
      expect(answer.endsWith(ECHO.toString("latin1"))).toBe(true);
      // Accepted here, not by ws's server.
      expect(ours.handledByWs()).toBe(0);
    } else {
      expect(answer).toMatch(/^HTTP\/1\.1 (400|405) /);
      expect(ours.handledByWs()).toBe(1);
    }
  });

  it("reads first frames that came in the upgrade request's own packet (the upgrade's head) as ws does", async () => {
    const ours = await serve("ours");
    const theirs = await serve("ws");
    const ping = frame(0x89, Buffer.from("p"));
    const cases: Array<[Buffer, number]> = [
      [HELLO, ECHO.length], // a whole frame
      [HELLO.subarray(0, 3), ECHO.length], // the start of one; the rest after the 101
      [Buffer.concat([ping, HELLO]), 3 + ECHO.length], // a ping (answered: 8a 01 70) and a frame
    ];
    for (const [extra, replyBytes] of cases) {
      const answer = await rawExchange(ours.port, upgradeRequest(plain), extra, replyBytes);
      expect(answer, extra.toString("hex")).toBe(await rawExchange(theirs.port, upgradeRequest(plain), extra, replyBytes));
      expect(answer.endsWith(ECHO.toString("latin1")), extra.toString("hex")).toBe(true);
    }
    expect(ours.handledByWs()).toBe(0);
  });

  it("gives ws's client a WebSocket that carries binary messages both ways and answers pings", async () => {
    const { port, handledByWs } = await serve("ours");
    const client = new WebSocket(`ws://127.0.0.1:${port}/v1/opamp`, ["opamp", "other"]);
    await new Promise((r, j) => client.once("open", r).once("error", j));
    expect(client.protocol).toBe("opamp");
    const echoed = new Promise<Buffer>((r) => client.once("message", (data: Buffer) => r(data)));
    client.send(Buffer.from([0, 1, 2, 3]));
    expect([...(await echoed)]).toEqual([0, 1, 2, 3]);
    const pong = new Promise<Buffer>((r) => client.once("pong", r));
    client.ping(Buffer.from("are you there"));
    expect((await pong).toString()).toBe("are you there");
    expect(handledByWs()).toBe(0);
    client.terminate();
  });
});

describe("firstSubprotocol", () => {
  it("accepts and refuses what ws's own parser does, with the same first name, on 20,000 random lists", () => {
    const alphabet = ["a", "b", "c", "opamp", " ", " ", "\t", ",", ",", ", ", '"', "/", "(", "é", "!", "~", "#", ".", "=", "\u0000", ";"];
    let accepted = 0;
    for (let seed = 1; seed <= 20_000; seed++) {
      const next = random(seed);
      const header = Array.from({ length: Math.floor(next() * 8) }, () => alphabet[Math.floor(next() * alphabet.length)]!).join("");
      let expected: string | undefined;
      try {
        expected = subprotocol.parse(header).values().next().value;
      } catch {
        expected = undefined;
      }
      expect(firstSubprotocol(header), `seed ${seed}: ${JSON.stringify(header)}`).toBe(expected);
      if (expected !== undefined) accepted++;
    }
    // Both outcomes are reached often.
    expect(accepted).toBeGreaterThan(1_000);
    expect(accepted).toBeLessThan(18_000);
  });

  it("takes the first of a well-formed list and refuses the malformed ones", () => {
    expect(firstSubprotocol("a, b")).toBe("a");
    expect(firstSubprotocol("opamp")).toBe("opamp");
    expect(firstSubprotocol("a,\tb ,c")).toBe("a");
    for (const bad of ["", "a,,b", "a, a", ",a", "a b", "a,", " a"]) expect(firstSubprotocol(bad), JSON.stringify(bad)).toBeUndefined();
  });
});
