/**
 * Thrown by adapters when a dependency (database, bus, another service) cannot
 * be reached. Callers answer "unavailable, retry later" instead of "internal".
 */
export class DependencyUnavailableError extends Error {
  constructor(
    readonly dependency: string,
    options?: { cause?: unknown },
  ) {
    super(`${dependency} is unavailable; retry later`, options);
    this.name = "DependencyUnavailableError";
  }
}
