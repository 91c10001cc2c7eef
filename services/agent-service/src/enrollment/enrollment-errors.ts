/**
 * An agent's credential is refused: an unknown, expired, revoked or used-up
 * token, or a message for an instance UID bound to another credential. The
 * gateway answers it with 401 (HTTP) or closes the WebSocket with 1008.
 */
export class AgentCredentialRefusedError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "AgentCredentialRefusedError";
  }
}

export class EnrollmentTokenNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`enrollment token ${id} does not exist`);
    this.name = "EnrollmentTokenNotFoundError";
  }
}
