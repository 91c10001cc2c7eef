import * as http from "node:http";
import * as net from "node:net";
import { randomBytes } from "node:crypto";
import { deflateSync, gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { BadEncodingError, readRequestBody } from "./http-body.js";
import { InboundMessageTooLargeError } from "./inbound-message-too-large.js";

const LIMIT = 64 * 1024;

/** A server whose every request is read by readRequestBody; the outcome of each is recorded and answered (413 for too large). */
let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

async function start(): Promise<{ port: number; outcomes: Array<Uint8Array | Error> }> {
  const outcomes: Array<Uint8Array | Error> = [];
  server = http.createServer((req, res) => {
    readRequestBody(req, LIMIT).then(
      (body) => {
        outcomes.push(body);
        res.end(`read ${body.length}`);
      },
      (err: Error) => {
        outcomes.push(err);
        res.writeHead(err instanceof InboundMessageTooLargeError ? 413 : 400, { connection: "close" });
        res.end(err.message);
      },
    );
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, outcomes };
}

function post(port: number, body: Uint8Array, encoding: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: "POST", headers: { "content-encoding": encoding } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode!));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("readRequestBody", () => {
  it("inflates gzip and deflate bodies, and refuses other encodings naming the header", async () => {
    const { port, outcomes } = await start();
    const message = new Uint8Array(5_000).fill(7);
    expect(await post(port, gzipSync(message), "gzip")).toBe(200);
    expect(await post(port, deflateSync(message), "deflate")).toBe(200);
    expect(await post(port, message, "identity")).toBe(200);
    expect(await post(port, message, "br")).toBe(400);
    expect(outcomes.slice(0, 3)).toEqual([message, message, message].map((m) => Buffer.from(m)));
    expect(outcomes[3]).toBeInstanceOf(BadEncodingError);
    expect((outcomes[3] as Error).message).toMatch(/Content-Encoding "br"/);
  });

  it("refuses gzip and deflate bombs over the limit (after inflation) as InboundMessageTooLargeError", async () => {
    const { port, outcomes } = await start();
    const bomb = new Uint8Array(LIMIT * 50);
    expect(await post(port, gzipSync(bomb), "gzip")).toBe(413);
    expect(await post(port, deflateSync(bomb), "deflate")).toBe(413);
    for (const o of outcomes) expect(o).toBeInstanceOf(InboundMessageTooLargeError);
  });

  it("refuses a body whose inflated bytes pass the limit as soon as they do, before the rest of the body arrives", async () => {
    const { port, outcomes } = await start();
    // The first part of a gzip stream that inflates to 50 × the limit; the
    // rest (it declares 10,000 more bytes) never comes.
    const zipped = gzipSync(new Uint8Array(LIMIT * 50));
    const socket = net.connect(port, "127.0.0.1");
    const answer = new Promise<string>((resolve) => {
      let text = "";
      socket.on("data", (d: Buffer) => {
        text += d.toString();
        if (text.includes("\r\n\r\n")) resolve(text);
      });
    });
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: ${zipped.length + 10_000}\r\n\r\n`);
    socket.write(zipped);
    expect(await answer).toMatch(/^HTTP\/1.1 413/);
    expect(outcomes[0]).toBeInstanceOf(InboundMessageTooLargeError);
    socket.destroy();
  });

  it("shows the first inflated bytes to a prefix check once, and stops inflating when it refuses them", async () => {
    const outcomes: Array<Uint8Array | Error> = [];
    const seen: number[] = [];
    server = http.createServer((req, res) => {
      const check = (prefix: Uint8Array) => {
        seen.push(prefix.length);
        if (prefix[0] === 1) throw new RangeError("refused by its start");
      };
      readRequestBody(req, LIMIT, { afterBytes: 4096, check }).then(
        (body) => (outcomes.push(body), res.end()),
        (err: Error) => (outcomes.push(err), res.writeHead(400).end()),
      );
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    expect(await post(port, gzipSync(new Uint8Array(LIMIT - 1)), "gzip")).toBe(200);
    expect(await post(port, gzipSync(new Uint8Array(LIMIT * 50).fill(1)), "gzip")).toBe(400);
    expect(await post(port, gzipSync(new Uint8Array(100)), "gzip")).toBe(200); // too short to look at
    expect((outcomes[0] as Uint8Array).length).toBe(LIMIT - 1);
    expect(outcomes[1]).toBeInstanceOf(RangeError); // not InboundMessageTooLargeError: it stopped at the start
    expect(seen).toHaveLength(2);
    for (const n of seen) expect(n).toBeGreaterThanOrEqual(4096);
    expect(seen[1]).toBeLessThan(LIMIT);
  });

  it("after a refusal mid-body, discards the rest of the body instead of resetting the connection, so the client reads the answer", async () => {
    server = http.createServer((req, res) => {
      const check = (prefix: Uint8Array) => {
        if (prefix[0] === 1) throw new RangeError("refused by its start");
      };
      readRequestBody(req, 16 * 1024 * 1024, { afterBytes: 4096, check }).then(
        () => res.end(),
        () => res.writeHead(400).end("refused"),
      );
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    // Random bytes do not compress: megabytes are still on their way when the first 4 KiB are refused.
    const body = randomBytes(4 * 1024 * 1024);
    body[0] = 1;
    expect(await post(port, gzipSync(body, { level: 1 }), "gzip")).toBe(400);
  });

  it("refuses a cut gzip body as BadEncodingError, and a raw body over the limit before reading it all", async () => {
    const { port, outcomes } = await start();
    const zipped = gzipSync(new Uint8Array(1_000).fill(1));
    expect(await post(port, zipped.subarray(0, zipped.length - 8), "gzip")).toBe(400);
    expect(outcomes[0]).toBeInstanceOf(BadEncodingError);
    expect(await post(port, new Uint8Array(LIMIT + 1), "identity")).toBe(413);
    expect(outcomes[1]).toBeInstanceOf(InboundMessageTooLargeError);
  });
});
