import type { IncomingMessage } from "node:http";
import type { AgentToServer, ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { AgentConnection } from "./agent-connection.js";

export type ConnectingDecision =
  | { accept: true }
  | { accept: false; status: number; headers?: Record<string, string>; reason: string };

/**
 * The callbacks of the design's "OpAMP Server Lib": the transport layer calls
 * them, opamp-service.ts implements them. The transport knows nothing about
 * agents; the service knows nothing about sockets.
 */
export interface OpampCallbacks {
  /** Before a connection is accepted (each HTTP poll, each WebSocket upgrade). */
  onConnecting(request: IncomingMessage): ConnectingDecision;
  onConnected(conn: AgentConnection): void;
  /** Handles one message and returns the reply to send on the same connection. */
  onMessage(conn: AgentConnection, message: AgentToServer): Promise<ServerToAgent>;
  /** A message could not be read; returns the reply to send (BadRequest), if any. */
  onReadMessageError(conn: AgentConnection, error: Error): ServerToAgent | undefined;
  onMessageResponseError(conn: AgentConnection, message: ServerToAgent, error: Error): void;
  /** Must return at once; cleanup runs in the background. */
  onConnectionClose(conn: AgentConnection): void;
}
