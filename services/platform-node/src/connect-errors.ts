import { Code, ConnectError } from "@connectrpc/connect";
import { DependencyUnavailableError, type Logger } from "@fleetplane/platform";

/**
 * Turns an unexpected error into a ConnectError for the caller: the full error
 * is logged here, the client only learns the code and a safe message (internal
 * text never leaks). `what` names the request, e.g. "ListAgents".
 */
export function toConnectError(err: unknown, logger: Logger, what: string, context: object = {}): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DependencyUnavailableError) {
    // Expected during an outage and logged once per request: the cause is
    // enough, a stack trace per request would drown the log.
    logger.warn({ ...context, dependency: err.dependency, cause: String(err.cause ?? err.message) }, `${what}: dependency unavailable`);
    return new ConnectError(`${what}: ${err.dependency} is unavailable; retry later`, Code.Unavailable);
  }
  if (isUnavailableConnectError(err)) {
    return new ConnectError(`${what}: a dependency is unavailable; retry later`, Code.Unavailable);
  }
  logger.error({ ...context, err }, `${what} failed`);
  return new ConnectError(`${what} failed; see the server log`, Code.Internal);
}

export function isUnavailableConnectError(err: unknown): boolean {
  const ce = ConnectError.from(err);
  return ce.code === Code.Unavailable || ce.code === Code.DeadlineExceeded || ce.code === Code.Aborted;
}
