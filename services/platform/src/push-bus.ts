/**
 * The push bus carries "agent X has something to receive" from agent-service to
 * the gateway replica holding X's WebSocket. It carries a notice, not the
 * message: the gateway then pulls the ServerToAgent, so a notice lost while the
 * bus is down costs nothing — the desired state is already stored and the
 * agent's next message reconciles it.
 */
export interface PushNotice {
  /** Hex instance UID. */
  instanceUid: string;
  /** The connection the agent was on when the notice was made. */
  connectionId: string;
  /**
   * Close that connection instead of pulling (the agent was deleted): the
   * one notice that carries an order, since there is nothing left to pull.
   */
  close?: boolean;
  /**
   * The agent's stored revision (decimal) once the announced change was
   * written: agent-service skips the pull's read through to the store when
   * its cached copy is at least that new. Absent: it reads through.
   */
  revision?: string;
  /**
   * Only on agent-service replicas' own channels, never to a gateway: a
   * change the sender asks the replica serving the agent to make, encoded
   * by agent-service (see agent-service's rollouts/pin-routing.ts).
   */
  request?: string;
}

export interface PushSubscription {
  unsubscribe(): Promise<void>;
}

export interface PushBus {
  /**
   * Hands a notice to the bus for one gateway. Resolves true when the bus took
   * it (in-process: a subscriber exists), false when it could not; never throws
   * for a down bus, because the caller's desired state is already saved.
   */
  publish(gatewayId: string, notice: PushNotice): Promise<boolean>;
  /**
   * Receives the notices for one gateway. `onReconnected` runs after the bus
   * came back from an outage: notices published meanwhile may be lost (the
   * publisher may have flushed before our subscription was restored), so the
   * gateway reconciles every agent it holds.
   */
  subscribe(gatewayId: string, onNotice: (notice: PushNotice) => void, onReconnected?: () => void): Promise<PushSubscription>;
  close(): Promise<void>;
}
