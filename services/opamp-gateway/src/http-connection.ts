import { ConnectionType } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { AgentConnection } from "./agent-connection.js";
import { AgentLiveness } from "./agent-liveness.js";
import type { AgentCredentials } from "./agent-authentication.js";

/**
 * An agent polling over plain HTTP. Each POST is a request, but the agent's
 * session spans polls: it lives while polls keep coming and ends when the
 * agent says goodbye or stays silent past the timeout.
 */
export class HttpAgentConnection implements AgentConnection {
  readonly type = ConnectionType.HTTP;
  readonly openedAt = Date.now();
  agent = "";
  /** Polls are the agent's heartbeats. */
  readonly liveness = new AgentLiveness(Date.now());

  constructor(
    readonly id: string,
    public remoteAddress: string,
    readonly endpoint: string,
    readonly credentials: AgentCredentials,
    private readonly onClose: (conn: HttpAgentConnection) => void,
  ) {}

  push(): Promise<void> {
    return Promise.reject(new Error("an HTTP agent cannot be pushed to; it receives messages on its next poll"));
  }

  close(): void {
    this.onClose(this);
  }

  /** A poll is answered before its session can close: nothing is left in hand. */
  settled(): Promise<void> {
    return Promise.resolve();
  }
}
