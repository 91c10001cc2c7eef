import type { ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";

/** When a silent agent counts as gone. */
export interface LivenessPolicy {
  /** Heartbeat intervals an agent may miss; silence beyond that many marks it disconnected (at least 1). */
  missedIntervals: number;
  /**
   * The interval assumed for an agent whose interval the server does not
   * know (it was offered none, or has not confirmed one): the spec's 30 s,
   * which is also the default HTTP polling interval.
   */
  defaultIntervalMs: number;
}

/**
 * How long one agent may stay silent. OpAMP agents send a message (a
 * heartbeat, or an HTTP poll) at least once per heartbeat interval; an agent
 * that misses `missedIntervals` of them in a row is gone, whatever its
 * socket says. The interval is the one the agent runs at: agent-service
 * tells us after each message (what we offered and the agent applied), and
 * an offer still on its way counts too — so an agent that was just told to
 * slow down is never judged by its old, shorter interval.
 */
export class AgentLiveness {
  private lastHeardAt: number;
  /** Messages of the agent's being answered now. */
  private inHand = 0;
  private knownSeconds = 0n;
  private offeredSeconds = 0n;

  constructor(now: number) {
    this.lastHeardAt = now;
  }

  /** The agent sent a message. */
  heard(now: number): void {
    this.lastHeardAt = now;
  }

  /**
   * A message of the agent's is being answered (until `answered`). Silence
   * is counted from the answer, not from the message: an agent whose
   * message waits on us — agent-service slowed by its store — is not silent,
   * and closing it (to have it reconnect and cost the store its connection
   * all over again) would feed the overload that kept it waiting.
   */
  answering(): void {
    this.inHand++;
  }

  /** The message `answering` was called for is answered (or failed): silence counts from now. */
  answered(now: number): void {
    this.inHand = Math.max(0, this.inHand - 1);
    if (now > this.lastHeardAt) this.lastHeardAt = now;
  }

  /** agent-service's word on the interval the agent runs at (0: unknown), with its reply. */
  runsAt(seconds: bigint): void {
    this.knownSeconds = seconds;
    // Whatever was offered before this reply has been confirmed or refused by now.
    this.offeredSeconds = 0n;
  }

  /** A message went to the agent: an interval it offers may apply from now on. */
  sent(message: ServerToAgent): void {
    const offered = message.connectionSettings?.opamp?.heartbeatIntervalSeconds ?? 0n;
    if (offered > this.offeredSeconds) this.offeredSeconds = offered;
  }

  intervalMs(policy: LivenessPolicy): number {
    const known = this.knownSeconds > 0n ? Number(this.knownSeconds) * 1000 : policy.defaultIntervalMs;
    return Math.max(known, Number(this.offeredSeconds) * 1000);
  }

  /** Silent for more than `missedIntervals` intervals, and no message of its in hand. */
  isOverdue(now: number, policy: LivenessPolicy): boolean {
    return this.inHand === 0 && now - this.lastHeardAt > policy.missedIntervals * this.intervalMs(policy);
  }

  silentMs(now: number): number {
    return now - this.lastHeardAt;
  }
}
