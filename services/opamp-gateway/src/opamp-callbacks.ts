import type { IncomingMessage } from "node:http";
import type { AgentToServer, ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { AgentConnection, AgentRefusal } from "./agent-connection.js";
import type { AgentCredentials } from "./agent-authentication.js";

/**
 * OnConnecting's answer: accept (with the credentials the request
 * authenticated with, NO_CREDENTIALS when none are asked), or refuse with an HTTP status
 * (and headers such as Retry-After or WWW-Authenticate).
 */
export type ConnectingDecision =
  | { accept: true; credentials: AgentCredentials }
  | { accept: false; status: number; headers?: Record<string, string>; reason: string };

/**
 * The callbacks of the design's "OpAMP Server Lib": the transport layer
 * (opamp-transport.ts) calls them, opamp-service.ts implements them. The
 * transport knows nothing about agents; the service knows nothing about
 * sockets.
 *
 * Ordering — what holds, per transport:
 * - WebSocket: onConnected comes first, once per socket. onMessage (and
 *   onReadMessageError for a frame that does not decode) are called one at a
 *   time per connection, in the order the frames arrived, and each reply has
 *   been handed to the socket before the next call starts: opamp-go's
 *   "never called concurrently for one connection" holds for these. Two
 *   calls escape that queue: onReadMessageError for a socket error (e.g. a
 *   frame over the size limit) and onConnectionClose, which the socket raises when
 *   it happens, possibly while an onMessage of the same connection is still
 *   running. Pushes (push-receiver.ts) are written beside replies, not
 *   queued behind them.
 * - Plain HTTP: every POST is handled on its own. Polls of one agent that
 *   overlap (an agent that does not wait for its answer, or two agents with
 *   one instance UID) call onMessage concurrently with the same connection;
 *   nothing here serialises them. agent-service's per-agent lock is what
 *   keeps one agent's reports in order. onConnectionClose may likewise
 *   overlap a poll still being answered.
 * Callbacks of different connections always run concurrently.
 */
export interface OpampCallbacks {
  /**
   * Before a connection is accepted: each WebSocket upgrade, and each HTTP
   * poll (before its body is read): agent authentication is decided here.
   * A refusal is answered with its status.
   */
  onConnecting(request: IncomingMessage): Promise<ConnectingDecision>;
  /**
   * A connection was accepted: once per WebSocket, before its first message;
   * over HTTP once per agent session, on the first poll of an instance UID
   * the gateway holds no session for, before that poll's onMessage.
   */
  onConnected(conn: AgentConnection): void;
  /**
   * Handles one message and returns the reply to send on the same
   * connection, or an AgentRefusal when the sender may not speak for the
   * instance UID it names; must not throw.
   */
  onMessage(conn: AgentConnection, message: AgentToServer): Promise<ServerToAgent | AgentRefusal>;
  /**
   * A WebSocket message of an admitted agent, before onMessage: the reply
   * when the service answers it at once (a bare heartbeat it may acknowledge
   * itself, heartbeat-answers.ts), and then onMessage is not called for it;
   * undefined to go on to onMessage. Synchronous, so the common message
   * costs no promise.
   */
  answerHeartbeat?(conn: AgentConnection, message: AgentToServer): ServerToAgent | undefined;
  /**
   * A WebSocket's first message was refused by admission (a new-agent rate,
   * --max-connecting-agents) and the agent told to come back later: until a
   * message of it is admitted the socket is no agent session, and nothing of
   * it need be stored. In a flood these are most sockets.
   */
  onAdmissionRefused(conn: AgentConnection): void;
  /**
   * A message could not be read; returns the reply to send (BadRequest), or
   * undefined when the transport has answered already (a message over the
   * size limit: HTTP 413, WebSocket close 1009). Over HTTP `conn` is a
   * stand-in for the unidentified sender: it never sees onConnected nor
   * onConnectionClose, and without a reply the transport answers with a
   * BadRequest of its own (over WebSocket, without a reply nothing is sent).
   */
  onReadMessageError(conn: AgentConnection, error: Error): ServerToAgent | undefined;
  /**
   * A reply could not be sent: the agent hung up (AgentConnectionClosedError),
   * the reply is over the size limit (OutboundMessageTooLargeError; over HTTP
   * the agent then gets an error reply in its place), or the socket failed.
   */
  onMessageResponseError(conn: AgentConnection, message: ServerToAgent, error: Error): void;
  /**
   * The connection has ended, once per onConnected: the socket closed, or the
   * HTTP session ended (the agent said goodbye, stopped polling, or the
   * gateway is shutting down). Must return at once; cleanup runs in the background.
   */
  onConnectionClose(conn: AgentConnection): void;
}
