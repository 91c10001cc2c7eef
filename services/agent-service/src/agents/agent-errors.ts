export class AgentNotFoundError extends Error {
  constructor(readonly instanceUid: string) {
    super(`agent ${instanceUid} is not known; it must connect at least once (or be given a remote config) first`);
    this.name = "AgentNotFoundError";
  }
}

/** The request is well-formed but the agent cannot do what is asked. */
export class AgentCannotError extends Error {
  constructor(readonly instanceUid: string, what: string) {
    super(`agent ${instanceUid} ${what}`);
    this.name = "AgentCannotError";
  }
}

export class InvalidRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidRequestError";
  }
}

/** The agent is connected, and the request needs it not to be (DeleteAgent without force). */
export class AgentConnectedError extends Error {
  constructor(readonly instanceUid: string, what: string) {
    super(`agent ${instanceUid} is connected; ${what}`);
    this.name = "AgentConnectedError";
  }
}
