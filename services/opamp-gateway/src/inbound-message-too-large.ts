/**
 * An AgentToServer over the configured size limit (the spec's limit applies
 * after decompression), on either transport. The transport has answered it
 * already — HTTP 413, or WebSocket close 1009 (ws does that itself) — so no
 * error_response follows.
 */
export class InboundMessageTooLargeError extends Error {
  constructor(
    readonly limit: number,
    what: string,
    options?: { cause?: unknown },
  ) {
    super(`${what} exceeds the ${limit}-byte limit`, options);
    this.name = "InboundMessageTooLargeError";
  }
}
