import type { ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { AgentCredentials } from "./agent-authentication.js";
import type { AgentLiveness } from "./agent-liveness.js";

/**
 * One agent transport session as the OpAMP layer sees it. WebSocket
 * connections can be written to at any time; HTTP ones only answer polls.
 */
export interface AgentConnection {
  readonly id: string;
  readonly type: ConnectionType;
  readonly remoteAddress: string;
  readonly openedAt: number;
  /** The OpAMP URL the agent reached (see Connection.endpoint). */
  readonly endpoint: string;
  /** What the agent authenticated with (see Connection.credential, enrollment_credential, certificate_uid). */
  readonly credentials: AgentCredentials;
  /**
   * The agent's instance UID in hex once its first message named it ("" until
   * then), so the transport's log lines about the session can name the agent.
   */
  agent: string;
  /** When the agent last spoke and how long it may stay silent. */
  readonly liveness: AgentLiveness;
  /**
   * Sends a message on the connection: a reply, or one the agent did not ask
   * for (WebSocket only). Rejects with AgentConnectionClosedError when the
   * agent has gone, with OutboundMessageTooLargeError (@fleetplane/opamp)
   * when the message is over the limit.
   */
  push(message: ServerToAgent): Promise<void>;
  /** Closes the session; `code` is a WebSocket close code. */
  close(code: number, reason: string): void;
  /**
   * Resolves once no message of this session is being handled (never
   * rejects). A socket can close while its last messages are still being
   * handled; the close cleanup waits for them, or their report would land
   * after the disconnect and mark the agent connected again.
   */
  settled(): Promise<void>;
}

/**
 * onMessage's answer to a message whose sender's credential is refused (an
 * instance UID bound to another credential): HTTP 401, or WebSocket close 1008.
 */
export class AgentRefusal {
  constructor(readonly reason: string) {}
}

/** The agent hung up before a message could be sent to it: routine, not a fault. */
export class AgentConnectionClosedError extends Error {
  constructor(readonly connectionId: string) {
    super(`WebSocket ${connectionId} is not open`);
    this.name = "AgentConnectionClosedError";
  }
}
