/**
 * The logging port: what the services call on a logger, and nothing more, so
 * domain code can log without loading a logging library. pino's logger (made
 * by `createLogger` in @fleetplane/platform-node) satisfies it as it is.
 *
 * Lines are structured: the object carries the fields (`agent` is the
 * instance UID in hex, so one agent's story can be grepped across services),
 * the message says what happened.
 */
export interface Logger {
  error: LogMethod;
  warn: LogMethod;
  info: LogMethod;
  debug: LogMethod;
  /** A logger whose every line also carries `bindings`. */
  child(bindings: Record<string, unknown>): Logger;
}

export interface LogMethod {
  (fields: object, message?: string): void;
  (message: string): void;
}

/** A logger that writes nothing: for unit tests of code that logs. */
export function silentLogger(): Logger {
  const logger: Logger = {
    error: () => {},
    warn: () => {},
    info: () => {},
    debug: () => {},
    child: () => logger,
  };
  return logger;
}
