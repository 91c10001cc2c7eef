/**
 * A ServerToAgent larger than the configured limit is never sent: the agent
 * (and, over WebSocket, its reader) would refuse it. Callers log it with the
 * agent and fall back to an error reply or an error on the push.
 */
export class OutboundMessageTooLargeError extends Error {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`ServerToAgent of ${bytes} bytes exceeds the ${limit}-byte limit; not sent`);
    this.name = "OutboundMessageTooLargeError";
  }
}

/** Throws OutboundMessageTooLargeError when an encoded ServerToAgent is over the limit. */
export function checkOutboundSize(bytes: number, limit: number): void {
  if (bytes > limit) throw new OutboundMessageTooLargeError(bytes, limit);
}
