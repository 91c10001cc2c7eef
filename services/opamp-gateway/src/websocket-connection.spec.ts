import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import { describe, expect, it } from "vitest";
import { WebSocketAgentConnection } from "./websocket-connection.js";

/** A connection over a socket that only counts pings and terminations. */
function connection() {
  const socket = { pings: 0, terminated: false, isPaused: false, ping() { this.pings++; }, terminate() { this.terminated = true; } };
  const conn = new WebSocketAgentConnection("gw/ws/1", "127.0.0.1", "/v1/opamp", {} as never, socket as unknown as WebSocket, {} as Duplex, 1 << 20);
  return { conn, socket };
}

describe("a WebSocket's liveness check (checkAlive, once per ping interval)", () => {
  it("does not ping a socket the agent sent a message on since the last check", () => {
    const { conn, socket } = connection();
    for (let i = 0; i < 5; i++) {
      conn.spoke = true; // a heartbeat each interval
      expect(conn.checkAlive()).toBe(true);
    }
    expect(socket.pings).toBe(0);
  });

  it("pings a silent socket, keeps it while it answers, and terminates it at the next check without a pong", () => {
    const { conn, socket } = connection();
    expect(conn.checkAlive()).toBe(true);
    expect(socket.pings).toBe(1);
    conn.alive = true; // the pong
    expect(conn.checkAlive()).toBe(true);
    expect(socket.pings).toBe(2);
    expect(conn.checkAlive(), "no pong since the last ping: half-open").toBe(false);
    expect(socket.terminated).toBe(true);
  });

  it("pings a socket that went quiet after its messages, and terminates it when the ping is not answered", () => {
    const { conn, socket } = connection();
    conn.spoke = true;
    expect(conn.checkAlive()).toBe(true);
    expect(socket.pings).toBe(0);
    expect(conn.checkAlive(), "silent since: pinged").toBe(true);
    expect(socket.pings).toBe(1);
    expect(conn.checkAlive()).toBe(false);
    expect(socket.terminated).toBe(true);
  });

  it("does not count an unanswered ping against a socket we stopped reading from", () => {
    const { conn, socket } = connection();
    conn.checkAlive();
    socket.isPaused = true;
    expect(conn.checkAlive()).toBe(true);
    expect(socket.terminated).toBe(false);
  });
});
