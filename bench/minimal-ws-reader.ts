/**
 * The least a server-side WebSocket reader of our own keeps per socket, for
 * the benches that ask what ws's per-socket objects cost (ws-socket-micro.ts,
 * bare-node-server.ts --no-ws; docs/performance.md §51): the socket, a
 * callback and the bytes of a frame not yet whole. It unmasks masked frames
 * (7- and 16-bit lengths), hands each data frame's payload on, answers a
 * close frame with a close and ends the socket. NOT an RFC 6455
 * implementation (no fragmentation, 64-bit lengths, ping, limits or
 * validation): it measures a floor and must not face real clients.
 */
import type { Socket } from "node:net";

const CLOSE_REPLY = Buffer.from([0x88, 0x02, 0x03, 0xe8]);

export class MinimalWsReader {
  private pending: Buffer | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly onMessage: (payload: Buffer) => void,
  ) {}

  /** The socket's 'data' listener. */
  readonly onData = (chunk: Buffer): void => {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    for (;;) {
      if (buf.length < 2) break;
      let len = buf[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (buf.length < 4) break;
        len = buf.readUInt16BE(2);
        at = 4;
      }
      const end = at + 4 + len;
      if (buf.length < end) break;
      if ((buf[0]! & 0x0f) === 0x08) {
        this.socket.write(CLOSE_REPLY);
        this.socket.end();
        return;
      }
      const payload = Buffer.allocUnsafe(len);
      for (let i = 0; i < len; i++) payload[i] = buf[at + 4 + i]! ^ buf[at + (i & 3)]!;
      this.onMessage(payload);
      buf = buf.subarray(end);
    }
    if (buf.length > 0) this.pending = Buffer.from(buf);
  };
}
