import { Code, ConnectError } from "@connectrpc/connect";
import { DependencyUnavailableError, LogRateLimit, type Logger } from "@fleetplane/platform";

/**
 * During an outage every request fails the same way (thousands a second with
 * a fleet reporting): one line per request name and dependency per 10 s,
 * with the count of those left out. Process-wide because the requests' names
 * and the dependencies are a small fixed set, whichever server logs them.
 */
const unavailableLines = new LogRateLimit({ intervalMs: 10_000 });

/**
 * Turns an unexpected error into a ConnectError for the caller: the full error
 * is logged here, the client only learns the code and a safe message (internal
 * text never leaks). `what` names the request, e.g. "ListAgents".
 */
export function toConnectError(err: unknown, logger: Logger, what: string, context: object = {}): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DependencyUnavailableError) {
    // Expected during an outage: the cause is enough, and the line is
    // rate-limited (a line or a stack trace per request would drown the log).
    const extra = unavailableLines.take(`${what}\u0000${err.dependency}`);
    if (extra) logger.warn({ ...context, dependency: err.dependency, cause: String(err.cause ?? err.message), ...extra }, `${what}: dependency unavailable`);
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
